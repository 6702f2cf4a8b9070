mkdir -p tree/empty tree/empty-700 tree/empty-sticky tree/bin tree/shared/group tree/real/target tree/deep/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20
chmod 700 tree/empty-700
chmod 1777 tree/empty-sticky
echo su > tree/bin/su-tool && chmod 4755 tree/bin/su-tool
echo sg > tree/bin/sg-tool && chmod 2755 tree/bin/sg-tool
echo both > tree/bin/both && chmod 6711 tree/bin/both
echo plain > tree/bin/plain && chmod 555 tree/bin/plain
chmod 2775 tree/shared/group
echo g > tree/shared/group/file
chmod 3775 tree/shared
echo data > tree/real/target/data
ln tree/real/target/data tree/real/hard-sibling
ln tree/real/target/data tree/shared/hard-elsewhere
ln tree/bin/su-tool tree/bin/su-hard
ln -s real/target tree/linked-dir
ln -s ../real/target/data tree/bin/data-link
ln -s /usr/bin tree/abs-dir-link
echo leaf > tree/deep/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20/leaf
: > tree/deep/1/2/3/empty-file

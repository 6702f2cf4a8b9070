ln -s dir/target rel-link
ln -s /etc/passwd abs-link
ln -s does-not-exist dangling
ln -s dir dir-link
ln -s ../dir/target dir/up-link
ln -s /nowhere dir/abs-dangling

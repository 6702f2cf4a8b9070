: > empty.tar
head -c 10240 /dev/zero > no-entries.tar
mkdir -p t1 t2
echo one > t1/one
echo two > t2/two
tar -C t1 --mtime='2021-02-03 04:05:06' --owner=0 --group=0 --numeric-owner -cf - one | gzip -n > part1.gz
tar -C t2 --mtime='2021-02-03 04:05:06' --owner=0 --group=0 --numeric-owner -cf - two | gzip -n > part2.gz
cat part1.gz part2.gz > multi-member.tar.gz
tar -C t1 --mtime='2021-02-03 04:05:06' --owner=0 --group=0 --numeric-owner -cf plain-named-gz.tar.gz one
echo 'just text' > text.tgz
echo 'readme' | gzip -n > readme.txt.gz
rm -rf t1 t2 part1.gz part2.gz

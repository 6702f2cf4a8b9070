mkdir -p t/pkg archives
echo payload > t/pkg/file
tar -C t --mtime='2021-02-03 04:05:06' --sort=name --owner=7 --group=8 --numeric-owner -cf real.tar pkg
tar -C t --mtime='2021-02-03 04:05:06' --sort=name --owner=9 --group=9 --numeric-owner -czf archives/inner.tar.gz pkg
rm -rf t
ln -s real.tar link.tar
ln -s link.tar link-to-link.tar
ln real.tar hard.tar
ln -s archives links
ln -s ./archives/inner.tar.gz deep-link.tgz

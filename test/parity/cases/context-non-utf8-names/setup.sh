mkdir -p latin1 t
echo x > "latin1/$(printf 'caf\351')"
mkdir "latin1/$(printf 'dir\377')"
echo y > "latin1/$(printf 'dir\377')/$(printf '\344\366\374')"
echo z > "t/$(printf 'na\357ve')"
tar -C t --mtime='2021-02-03 04:05:06' --owner=0 --group=0 --numeric-owner -cf latin1.tar .
rm -rf t

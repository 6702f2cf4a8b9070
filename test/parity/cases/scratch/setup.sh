mkdir t; echo t > t/t
tar -C t --mtime='2021-01-01' --owner=5 --group=6 --numeric-owner -cf plain.tar t
rm -rf t

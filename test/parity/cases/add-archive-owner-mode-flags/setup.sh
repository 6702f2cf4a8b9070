mkdir -p src/d src/e && echo a > src/d/a && echo b > src/b && chmod 640 src/b && chmod 2750 src/e && ln -s d/a src/link
tar --owner=7 --group=8 --numeric-owner --mtime='2021-06-01 00:00:00' -cf arch.tar -C src .
gzip -kn arch.tar
rm -rf src

mkdir -p t/d n/opt/tool
echo f > t/d/f; chmod 640 t/d/f; ln t/d/f t/hard; ln -s d t/dirlink; chmod 750 t
tar -C t --mtime='2021-02-03 04:05:06' --sort=name --owner=7 --group=9 --numeric-owner -cf plain.tar .
echo tool > n/opt/tool/run
tar -C n --mtime='2021-02-03 04:05:06' --sort=name --owner=0 --group=0 --numeric-owner -cf noroot.tar opt
mkdir -p hl; echo h > hl/one; ln hl/one hl/two; mkdir -p hl/sub; ln hl/one hl/sub/three
rm -rf t n

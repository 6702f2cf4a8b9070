mkdir -p named/extra/sub named/extra/ignored named/tools/bin
echo f > named/extra/sub/f
echo a > named/extra/a.txt
echo b > named/extra/b.txt
echo i > named/extra/ignored/i
echo s > named/extra/secret.key
printf 'ignored\n*.key\n' > named/extra/.dockerignore
ln -s sub/f named/extra/link
ln named/extra/a.txt named/extra/a-hard.txt
chmod 700 named/extra/sub
chmod 600 named/extra/b.txt
chown 1000:1000 named/extra/a.txt
echo tool > named/tools/bin/tool
chmod 755 named/tools/bin/tool

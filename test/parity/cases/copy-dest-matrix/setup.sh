mkdir -p d1/sub d2 d3/x/y/z "sp ace"
echo f1 > f1; echo f2 > f2; chmod 755 f2; echo f3 > f3; chmod 600 f3
echo a > d1/a; ln d1/a d1/b; echo c > d1/sub/c; ln -s a d1/link-to-a; ln -s /etc/passwd d1/abs-link; ln -s sub d1/dirlink; ln -s ../f1 d1/up-link
chmod 750 d1; chmod 700 d2; chmod 2755 d3
echo z > d3/x/y/z/file; chmod 4755 d3/x/y/z/file
ln -s f1 slink-f; ln -s d1 slink-d; ln -s nowhere dangle
echo s > "sp ace/in"; echo t > "sp ace/top file"

echo a > a.txt
mkdir -p dir/sub/deeper
echo f > dir/f
echo g > dir/sub/g
chmod 0700 dir/sub
chmod 0600 dir/sub/g
echo h > dir/sub/deeper/h
chmod 0755 dir/sub/deeper/h
ln -s sub/g dir/link

mkdir -p dir/sub one two modes/sgid
echo a > a.txt
echo d > dir/d
echo s > dir/sub/s
echo 1 > one/x.txt
echo 2 > two/x.txt
echo u > modes/suid
chmod 4755 modes/suid
chmod 2775 modes/sgid
echo g > modes/sgid/g
chmod 1777 modes
echo r > modes/readonly
chmod 400 modes/readonly

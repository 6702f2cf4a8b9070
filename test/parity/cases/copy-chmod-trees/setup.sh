mkdir -p tree/d1/d2 tree/empty
echo top > tree/top.txt
echo deep > tree/d1/d2/deep.txt
chmod 700 tree/d1
chmod 600 tree/top.txt
ln -s top.txt tree/link

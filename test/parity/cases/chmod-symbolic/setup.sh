chmod 640 a.txt
chmod 750 dir/sub
chmod 604 dir/x

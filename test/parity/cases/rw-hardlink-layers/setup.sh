mkdir -p links/a links/b
echo one > links/a/one
ln links/a/one links/b/one-again
ln links/a/one links/third
chmod 640 links/a/one

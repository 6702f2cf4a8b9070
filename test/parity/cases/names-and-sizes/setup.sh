mkdir -p "with space/and more" "ünïcödé" "l/$(printf 'long%.0s' $(seq 1 30))/deeper"
echo s > "with space/and more/file name.txt"
echo u > "ünïcödé/日本語.txt"
echo deep > "l/$(printf 'long%.0s' $(seq 1 30))/deeper/$(printf 'name%.0s' $(seq 1 30)).txt"
ln -s "$(printf 'target%.0s' $(seq 1 25))" longlink
: > empty
head -c 1048576 /dev/zero | tr '\0' 'a' > big
head -c 300000 /dev/zero | tr '\0' 'b' > medium
chmod 600 medium

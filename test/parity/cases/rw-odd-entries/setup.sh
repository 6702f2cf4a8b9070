printf 'nl\n' > "$(printf 'new\nline')"
printf 'tab\n' > "$(printf 'tab\there')"
mkdir -p locked/inner noexec
echo secret > locked/inner/file
echo zero > locked/zero-mode
chmod 000 locked/zero-mode
chmod 000 locked/inner
chmod 600 noexec
: > empty
ln -s loop-b loop-a
ln -s loop-a loop-b

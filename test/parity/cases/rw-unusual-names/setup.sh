mkdir -p "dir with spaces/inner dir" "ünïcödé/子目录" ".hidden-dir" "a#b" "semi;colon"
echo dash > ./-rf
echo help > ./--help
echo spaced > "my file.txt"
echo inner > "dir with spaces/inner dir/file with spaces.txt"
echo u > "ünïcödé/子目录/файл.txt"
echo e > "ünïcödé/émoji-😀.txt"
echo star > 'star*name.md'
echo q > 'question?.md'
echo br > '[brackets].md'
echo quote > "it's \"quoted\".txt"
echo back > 'back\slash.txt'
echo dol > 'dollar$HOME.txt'
echo h > .hidden-file
echo hd > .hidden-dir/x
echo hash > "a#b/c"
echo semi > "semi;colon/x"
long=$(printf 'abcdefghij%.0s' $(seq 1 25))
echo long > "$long"
d=""
for i in $(seq 1 8); do d="$d/$(printf 'segment%02d-%.0s' $i $(seq 1 5))"; done
mkdir -p "deep$d"
echo deep > "deep$d/$(printf 'leaf%.0s' $(seq 1 20)).txt"
ln -s "my file.txt" "link to spaced"
ln -s "ünïcödé/子目录" "unicode-dir-link"

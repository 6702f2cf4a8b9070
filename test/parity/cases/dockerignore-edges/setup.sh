mkdir -p node_modules/pkg a/node_modules b/temp1 keep/inner/deep x/y
echo 1 > node_modules/pkg/i
echo 2 > a/node_modules/j
echo 3 > b/temp1/k
echo 4 > b/other
echo 5 > keep/inner/deep/wanted.txt
echo 6 > keep/inner/deep/unwanted.log
echo 7 > x/y/z
echo 8 > root.md
echo 9 > sub.md
printf '**/node_modules\n*/temp*\n/root.md\nkeep\n!keep/inner/deep/*.txt\nx/y\n!x/y/z\n' > .dockerignore

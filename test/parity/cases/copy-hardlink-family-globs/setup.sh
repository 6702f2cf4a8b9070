mkdir -p fam/sub
echo one > fam/one
ln fam/one fam/one-again
ln fam/one fam/sub/one-link
echo two > fam/two
ln fam/two fam/sub/two-link

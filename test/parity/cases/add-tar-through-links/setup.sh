tarc() { dir=$1; shift; tar -C "$dir" --mtime="2021-02-03 04:05:06" --sort=name --owner=0 --group=0 --numeric-owner "$@"; }
mkdir -p a/sub a/real b/real c/real
echo s > a/sub/s
ln -s sub a/link
echo x > a/real/x
tarc a --transform='s,^real/,link/,S' -cf inside.tar sub link real/x
ln -s / b/link
echo y > b/real/y
tarc b --transform='s,^real/,link/,S' -cf absolute.tar link real/y
ln -s ../../.. c/link
echo z > c/real/z
tarc c --transform='s,^real/,link/,S' -cf climbing.tar link real/z
rm -rf a b c

echo plain > plain.txt
echo my > my
echo file > file.txt
mkdir -p subdir/inner
echo inner > subdir/inner/f

# Archives of the context's own directories, with the context's fixed time.
tar --mtime=@1577836800 --owner=0 --group=0 -cf one.tar dir
tar --mtime=@1577836800 --owner=0 --group=0 -cf two.tar dir2

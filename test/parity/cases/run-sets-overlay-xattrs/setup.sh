# A static helper that sets and reads extended attributes, which busybox cannot: built here
# from xattr.c (a C compiler is where tsbuild's runtime-shim builds), its source then removed.
cc -static -Os -s -o xattr xattr.c && rm xattr.c

# A real bzip2 archive, made the same every time: COPY keeps it as it is (only ADD unpacks).
mkdir -p licenses && echo MIT > licenses/a && touch -d @0 licenses licenses/a
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cjf npm_licenses.tar.bz2 licenses && rm -r licenses

# A real bzip2 archive: COPY keeps it as it is (only ADD unpacks).
mkdir -p licenses && echo MIT > licenses/a && tar -cjf npm_licenses.tar.bz2 licenses && rm -r licenses

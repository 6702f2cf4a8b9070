# A POSIX tar (GNU tar --format=posix) whose PAX records date its entries to the nanosecond:
# a file, a directory, a hard link, a symlink and a file before 1970 (moby's untar makes the
# epoch of that, not of the symlink's). No atime or ctime records: only mtimes.
mkdir -p tree/sub && echo x > tree/f && echo y > tree/sub/g && ln tree/f tree/hard && ln -s f tree/link && echo old > tree/old
touch -d '2020-01-01 00:00:00.123456789' tree/f
touch -d '2021-06-01 12:00:00.5' tree/sub/g
touch -d '2019-03-04 05:06:07.000000001' tree/sub
touch -h -d '1969-12-31 23:59:30.987654321' tree/link
touch -d '1969-12-31 23:59:59.25' tree/old
touch -d '2018-01-01 00:00:00.999999999' tree
tar --format=posix --pax-option=delete=atime,delete=ctime --sort=name --owner=0 --group=0 --numeric-owner -C tree -cf times.tar .
rm -r tree

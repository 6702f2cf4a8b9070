mkdir -p bin data capbin
printf '#!/bin/sh\necho server\n' > bin/server
chmod 755 bin/server
setcap cap_net_bind_service=+ep bin/server
echo tagged > data/tagged
python3 -c "import os; os.setxattr('data/tagged', 'user.origin', b'build-tool'); os.setxattr('data/tagged', 'user.empty', b''); os.setxattr('data', 'user.dir', b'd')"
echo plain > data/plain
printf '#!/bin/sh\necho cap\n' > capbin/capserver
cp capbin/capserver capbin/capserver2
chmod 755 capbin/capserver capbin/capserver2
setcap cap_net_bind_service,cap_net_raw=+ep capbin/capserver
setcap cap_net_bind_service=+ep capbin/capserver2
tar --xattrs --xattrs-include='security.capability' --mtime='2021-02-03 04:05:06' --sort=name --owner=0 --group=0 --numeric-owner -cf caps.tar capbin
rm -rf capbin

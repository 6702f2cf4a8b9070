# caps.tar (files with security.capability in SCHILY.xattr headers) is committed as it is:
# GNU tar's --xattrs and setcap may not be where the corpus runs. The context's own
# capability and user.* attributes are set where the tools are; BuildKit's image has neither
# (the transfer's chown clears the capability, the layer keeps no user.* attribute), so the
# record is the same without them.
mkdir -p bin data
printf '#!/bin/sh\necho server\n' > bin/server
chmod 755 bin/server
if command -v setcap >/dev/null; then setcap cap_net_bind_service=+ep bin/server; fi
echo tagged > data/tagged
if command -v python3 >/dev/null; then
  python3 -c "import os; os.setxattr('data/tagged', 'user.origin', b'build-tool'); os.setxattr('data/tagged', 'user.empty', b''); os.setxattr('data', 'user.dir', b'd')"
fi
echo plain > data/plain

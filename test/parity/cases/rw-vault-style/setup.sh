echo 'Mozilla Public License Version 2.0' > LICENSE
mkdir -p dist/linux/amd64 .release/docker
printf '#!/bin/sh\necho vault "$@"\n' > dist/linux/amd64/vault
chmod 755 dist/linux/amd64/vault
printf '#!/bin/sh\nset -e\nexec vault "$@"\n' > .release/docker/docker-entrypoint.sh
chmod 755 .release/docker/docker-entrypoint.sh

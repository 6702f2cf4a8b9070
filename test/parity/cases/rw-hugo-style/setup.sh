mkdir -p scripts/docker
printf '#!/bin/sh\nexec hugo "$@"\n' > scripts/docker/entrypoint.sh
chmod 755 scripts/docker/entrypoint.sh
echo 'module github.com/gohugoio/hugo' > go.mod

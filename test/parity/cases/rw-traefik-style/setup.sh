mkdir -p dist/linux/amd64 dist/linux/arm64
printf '#!/bin/sh\necho traefik amd64\n' > dist/linux/amd64/traefik
printf '#!/bin/sh\necho traefik arm64\n' > dist/linux/arm64/traefik
chmod 755 dist/linux/amd64/traefik dist/linux/arm64/traefik

mkdir -p docker/root/usr/bin docker/root/usr/local/bin docker/root/etc/s6/gitea docker/root/etc/s6/openssh docker/root/etc/s6/.s6-svscan docker/root/etc/templates
printf '#!/bin/sh\nexec "$@"\n' > docker/root/usr/bin/entrypoint
printf '#!/bin/sh\nexec /app/gitea/gitea "$@"\n' > docker/root/usr/local/bin/gitea
printf '#!/bin/sh\nexec gitea web\n' > docker/root/etc/s6/gitea/run
printf '#!/bin/sh\nexit 0\n' > docker/root/etc/s6/gitea/finish
printf '#!/bin/sh\nexec sshd -D\n' > docker/root/etc/s6/openssh/run
printf '#!/bin/sh\nexit 0\n' > docker/root/etc/s6/.s6-svscan/finish
printf 'APP_NAME = $APP_NAME\n' > docker/root/etc/templates/app.ini
echo 'module code.gitea.io/gitea' > go.mod
echo 'package main' > main.go

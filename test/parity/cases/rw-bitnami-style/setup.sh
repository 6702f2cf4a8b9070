mkdir -p prebuildfs/opt/bitnami/scripts rootfs/opt/bitnami/scripts/app rootfs/etc
printf '#!/bin/sh\n. /opt/bitnami/scripts/liblog.sh\n' > prebuildfs/opt/bitnami/scripts/libbitnami.sh
echo 'info() { echo "$@"; }' > prebuildfs/opt/bitnami/scripts/liblog.sh
printf '#!/bin/sh\nfor d in /opt/bitnami/app/conf /opt/bitnami/app/tmp /opt/bitnami/app/logs /app; do mkdir -p "$d"; chmod -R g+rwX "$d"; done\nln -sf /dev/stdout /opt/bitnami/app/logs/app.log\n' > rootfs/opt/bitnami/scripts/app/postunpack.sh
printf '#!/bin/sh\nexec "$@"\n' > rootfs/opt/bitnami/scripts/app/entrypoint.sh
printf '#!/bin/sh\nexec app\n' > rootfs/opt/bitnami/scripts/app/run.sh
echo 'app.conf' > rootfs/etc/app.conf
chmod 0755 rootfs/opt/bitnami/scripts/app/*.sh prebuildfs/opt/bitnami/scripts/*.sh
chmod 0775 rootfs/opt rootfs/opt/bitnami prebuildfs/opt
chmod 0750 rootfs/etc

mkdir -p rootfs/etc/services.d/app rootfs/usr/local/bin rootfs/bin
echo run > rootfs/etc/services.d/app/run && chmod 755 rootfs/etc/services.d/app/run
echo init > rootfs/usr/local/bin/init && chmod 755 rootfs/usr/local/bin/init
echo 'root:x:0:0:root:/root:/bin/sh' > rootfs/etc/passwd
echo tool > rootfs/bin/overlay-tool && chmod 755 rootfs/bin/overlay-tool
chmod 750 rootfs/etc

mkdir -p rootfs/opt/app tmpdir/sub etcdir/conf.d
echo app > rootfs/opt/app/run
echo t > tmpdir/sub/t
echo c > etcdir/conf.d/c.conf
chmod 700 rootfs
chmod 750 tmpdir
chmod 711 etcdir

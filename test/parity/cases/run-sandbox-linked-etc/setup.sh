mkdir -p etc etc2
ln -s ../run/resolvconf/resolv.conf etc/resolv.conf
ln -s hosts.real etc/hosts
ln -s /run/systemd/resolve/stub-resolv.conf etc2/resolv.conf
ln -s /etc/hosts.real etc2/hosts

printf 'port: 4222\nmonitor_port: 8222\n' > nats-server.conf
printf '\037\213 not really gzip: etcd\n' > etcd
printf 'BZh9 not really bzip2: etcdctl\n' > etcdctl
chmod 755 etcd etcdctl

# Release archives as HashiCorp's and etcd's: the binaries owned by a build user, the archive's
# `./` entry 0700 and dated, unlike /bin and /usr/local/bin.
set -e
mkdir -p rel/consul rel/etcd
printf '#!/bin/sh\necho "Consul v1.17.0"\n' > rel/consul/consul
printf '#!/bin/sh\necho "etcd Version: 3.5.11"\n' > rel/etcd/etcd
printf '#!/bin/sh\necho "etcdctl version: 3.5.11"\n' > rel/etcd/etcdctl
chmod 0755 rel/consul/consul rel/etcd/etcd rel/etcd/etcdctl
chmod 0700 rel/consul rel/etcd
tar -C rel/consul --mtime='2023-11-20 10:00:00' --sort=name --owner=1001 --group=1001 --numeric-owner -czf consul_1.17.0_linux_amd64.tar.gz .
tar -C rel/etcd --mtime='2023-12-07 11:00:00' --sort=name --owner=0 --group=0 --numeric-owner -cf etcd-v3.5.11-linux-amd64.tar .
(cd rel/consul && TZ=UTC touch -d '2023-11-20 10:00:00' consul && zip -X -q ../../consul_1.17.0_linux_amd64.zip consul)
rm -rf rel

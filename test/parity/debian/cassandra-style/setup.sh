# The release tarball ADD unpacks: apache-cassandra-4.1.3/ with bin scripts (0755), conf files
# (one 0600, one a link to another), lib jars, a tools tree, owned by a build user's ids as
# release tarballs are, made with GNU tar in the old GNU format.
top=apache-cassandra-4.1.3
mkdir -p "$top/bin" "$top/conf/triggers" "$top/lib/sigar-bin" "$top/tools/bin" "$top/pylib/cqlshlib" "$top/doc"
printf '#!/bin/sh\necho "Cassandra 4.1.3 ($*)"\n' > "$top/bin/cassandra"
printf '#!/bin/sh\necho "[cqlsh 6.1.0 | Cassandra 4.1.3 | CQL spec 3.4.6]"\n' > "$top/bin/cqlsh"
printf '#!/bin/sh\necho nodetool "$@"\n' > "$top/bin/nodetool"
printf 'CASSANDRA_HOME=${CASSANDRA_HOME:-/opt/cassandra}\n' > "$top/bin/cassandra.in.sh"
chmod 0755 "$top/bin/cassandra" "$top/bin/cqlsh" "$top/bin/nodetool"
chmod 0644 "$top/bin/cassandra.in.sh"
printf 'cluster_name: '"'"'Test Cluster'"'"'\nlisten_address: localhost\nrpc_address: localhost\nseed_provider:\n  - class_name: org.apache.cassandra.locator.SimpleSeedProvider\n    parameters:\n      - seeds: "127.0.0.1:7000"\nendpoint_snitch: SimpleSnitch\n' > "$top/conf/cassandra.yaml"
printf 'JVM_PATCH_VERSION=13\nMAX_HEAP_SIZE="4G"\n#JVM_OPTS="$JVM_OPTS -Djava.rmi.server.hostname=<public name>"\n' > "$top/conf/cassandra-env.sh"
printf 'monitorRole QED\ncontrolRole R&D\n' > "$top/conf/jmxremote.password"
chmod 0600 "$top/conf/jmxremote.password"
printf '<configuration/>\n' > "$top/conf/logback.xml"
ln -s logback.xml "$top/conf/logback-tools.xml"
printf 'place trigger jars here\n' > "$top/conf/triggers/README.txt"
for jar in apache-cassandra-4.1.3 guava-27.0-jre netty-all-4.1.96 jna-5.6.0; do head -c 2048 /dev/zero | tr '\0' 'J' > "$top/lib/$jar.jar"; done
printf 'sigar\n' > "$top/lib/sigar-bin/libsigar-amd64-linux.so"
printf '#!/bin/sh\necho sstableloader\n' > "$top/tools/bin/sstableloader"
chmod 0755 "$top/tools/bin/sstableloader"
printf '' > "$top/pylib/cqlshlib/__init__.py"
printf 'docs\n' > "$top/doc/README.md"
find "$top" -exec touch -h -d '2023-07-24 10:11:12' {} +
tar --format=gnu --owner=1000 --group=1000 --numeric-owner --sort=name -czf cassandra-bin.tar.gz "$top"
rm -rf "$top"

mkdir -p t/grafana-v10/bin t/grafana-v10/conf t/grafana-v10/public/build packaging/docker
printf '#!/bin/sh\necho grafana\n' > t/grafana-v10/bin/grafana
chmod 755 t/grafana-v10/bin/grafana
printf '[paths]\ndata = /var/lib/grafana\n' > t/grafana-v10/conf/sample.ini
printf '[[servers]]\nhost = "127.0.0.1"\n' > t/grafana-v10/conf/ldap.toml
echo 'console.log(1)' > t/grafana-v10/public/build/app.js
tar -c -C t --owner=0 --group=0 --numeric-owner --mtime=2020-01-01 --sort=name grafana-v10 | gzip -n > grafana-latest.linux-x64-musl.tar.gz
rm -r t
printf '#!/bin/bash -e\nexec grafana server "$@"\n' > packaging/docker/run.sh

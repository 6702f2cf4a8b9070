chmod 0755 docker-entrypoint.sh
chmod 0644 config/my.cnf

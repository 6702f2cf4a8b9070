chmod 775 docker-entrypoint.sh

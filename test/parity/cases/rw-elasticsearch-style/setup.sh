chmod 755 dist/bin/elasticsearch docker-entrypoint.sh
chmod 600 dist/config/elasticsearch.yml

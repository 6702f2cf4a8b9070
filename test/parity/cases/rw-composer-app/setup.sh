chmod 644 bin/console
mkdir -p var/cache/dev vendor/stale
echo cache > var/cache/dev/container.php
echo old > vendor/stale/x.php
echo SECRET=1 > .env.local
echo APP_ENV=dev > .env
echo 'services: {}' > compose.override.yaml

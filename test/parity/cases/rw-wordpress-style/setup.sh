mkdir -p wordpress/wp-content/themes/twenty wordpress/wp-content/plugins wordpress/wp-includes
echo '<?php // index' > wordpress/index.php
printf '<?php\n#DEBUG\n' > wordpress/wp-config-sample.php
echo theme > wordpress/wp-content/themes/twenty/style.css
echo inc > wordpress/wp-includes/version.php
chmod 0700 wordpress/wp-includes
chmod 0600 wordpress/wp-includes/version.php
find wordpress -exec touch -d '2021-01-01 00:00:00' {} +
touch -d '2021-06-01 12:00:00' wordpress/index.php wordpress/wp-includes
# The archive is kept by the COPY layer: its bytes must not depend on when it was made.
tar --sort=name --owner=1001 --group=1002 --numeric-owner -cf - wordpress | gzip -n > wordpress.tar.gz
rm -rf wordpress

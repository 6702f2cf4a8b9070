<?php define('DB_NAME', getenv('WORDPRESS_DB_NAME'));

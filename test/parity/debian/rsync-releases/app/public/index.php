<?php echo "v1";

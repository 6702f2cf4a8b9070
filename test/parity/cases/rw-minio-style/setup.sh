echo credits > CREDITS
echo 'GNU AFFERO GENERAL PUBLIC LICENSE' > LICENSE
mkdir -p dockerscripts
printf '#!/bin/sh\nexec "$@"\n' > dockerscripts/docker-entrypoint.sh
chmod 755 dockerscripts/docker-entrypoint.sh

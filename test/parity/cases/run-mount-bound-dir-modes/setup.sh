chmod 750 sub
chmod 2711 .

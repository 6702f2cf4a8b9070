chmod 711 etc
chmod 750 data

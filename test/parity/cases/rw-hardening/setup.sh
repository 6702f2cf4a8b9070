chmod 4755 app/run.sh
chmod 0777 app/conf

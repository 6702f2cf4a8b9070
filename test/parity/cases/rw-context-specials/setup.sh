mkdir -p run data
mkfifo run/app.fifo
chmod 620 run/app.fifo
echo shared > data/aa-excluded
ln data/aa-excluded data/bb-kept
ln data/aa-excluded data/cc-kept
echo t > data/target-excluded
ln -s target-excluded data/link-to-excluded
printf 'data/aa-excluded\ndata/target-excluded\n' > .dockerignore

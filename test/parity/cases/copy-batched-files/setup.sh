mkdir -p many/a many/b
i=0; while [ $i -lt 530 ]; do printf 'file %s\n' $i > many/a/f$i; i=$((i+1)); done
i=0; while [ $i -lt 20 ]; do printf 'other %s\n' $i > many/b/g$i; i=$((i+1)); done
ln many/a/f3 many/b/link-to-f3
ln many/a/f525 many/b/link-to-f525
chmod 600 many/a/f10
chmod 755 many/a/f11
chmod 4755 many/a/f12
chmod 2711 many/b/g12
head -c 262144 /dev/zero | tr '\0' 'x' > many/exactly-256k
head -c 262145 /dev/zero | tr '\0' 'y' > many/just-over
ln many/just-over many/b/just-over-link

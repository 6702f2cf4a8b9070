make_deb() {
  version=$1
  root=pkg-$version
  mkdir -p $root/DEBIAN $root/usr/bin $root/usr/share/demo/data $root/etc/demo $root/var/lib/demo
  printf 'Package: demo\nVersion: %s\nArchitecture: all\nMaintainer: x <x@example.com>\nDescription: demo\n' "$version" > $root/DEBIAN/control
  echo /etc/demo/demo.conf > $root/DEBIAN/conffiles
  printf '#!/bin/sh\nset -e\nchown -R daemon:daemon /var/lib/demo\nchmod 2770 /var/lib/demo\n' > $root/DEBIAN/postinst
  chmod 755 $root/DEBIAN/postinst
  echo "conf $version" > $root/etc/demo/demo.conf
  printf '#!/bin/sh\necho demo %s\n' "$version" > $root/usr/bin/demo
  chmod 755 $root/usr/bin/demo
  ln $root/usr/bin/demo $root/usr/bin/demo-alias
  ln -s demo $root/usr/bin/demo-link
  echo "data $version" > $root/usr/share/demo/data/common
  if [ "$version" = 1.0 ]; then echo old > $root/usr/share/demo/data/only-in-1; mkdir -p $root/usr/share/demo/olddir && echo o > $root/usr/share/demo/olddir/o; fi
  if [ "$version" = 2.0 ]; then echo new > $root/usr/share/demo/data/only-in-2; cp $root/usr/bin/demo $root/usr/bin/demo-suid; chmod 4755 $root/usr/bin/demo-suid; mkdir -p $root/var/spool/demo; chmod 1777 $root/var/spool/demo; fi
  find $root -exec touch -h -d '2021-02-03 04:05:06' {} +
  dpkg-deb --root-owner-group -Zgzip --build $root demo_${version}_all.deb >/dev/null
  rm -rf $root
}
make_deb 1.0
make_deb 2.0

# Package files as projects download or build them, all ADDed by the Dockerfile: `npm pack`'s
# tarball (gzip, members under package/, dated 1985-10-26 as npm dates them), a Ruby .gem (a
# plain ustar archive of three gzip files, members 0444), a .deb (an ar archive), a wheel and a
# jar (zip archives), a tarball named .bin, and a gzip file that holds no tar.
mkdir -p build/package/lib
printf '{"name":"left-pad","version":"1.3.0","main":"index.js","bin":{"left-pad":"cli.js"}}\n' > build/package/package.json
printf 'module.exports = (s, n) => String(s).padStart(n);\n' > build/package/index.js
printf '#!/usr/bin/env node\nconsole.log(require("./")(process.argv[2], 8));\n' > build/package/cli.js
printf 'exports.noop = () => {};\n' > build/package/lib/util.js
chmod 0755 build/package/cli.js
tar --format=ustar --sort=name --mtime='1985-10-26 08:15:00' --owner=0 --group=0 --numeric-owner \
	-C build -czf left-pad-1.3.0.tgz package

mkdir -p build/gem/data/lib/hello build/gem/data/exe
printf 'module Hello\n  VERSION = "0.1.0"\nend\n' > build/gem/data/lib/hello/version.rb
printf 'require "hello/version"\n' > build/gem/data/lib/hello.rb
printf '#!/usr/bin/env ruby\nputs "hello"\n' > build/gem/data/exe/hello
chmod 0755 build/gem/data/exe/hello
tar --sort=name --mtime='2023-05-01 00:00:00' --owner=0 --group=0 --numeric-owner -C build/gem/data -cf - . | gzip -n > build/gem/data.tar.gz
printf -- '--- !ruby/object:Gem::Specification\nname: hello\nversion: 0.1.0\n' | gzip -n > build/gem/metadata.gz
printf -- '---\nSHA256:\n  data.tar.gz: none\n' | gzip -n > build/gem/checksums.yaml.gz
tar --format=ustar --mode=0444 --mtime='2023-05-01 00:00:00' --owner=wheel --group=wheel \
	-C build/gem -cf hello-0.1.0.gem metadata.gz data.tar.gz checksums.yaml.gz

mkdir -p build/deb/DEBIAN build/deb/usr/bin build/deb/usr/share/hello-tool
printf 'Package: hello-tool\nVersion: 1.0\nArchitecture: all\nMaintainer: Nobody <nobody@example.org>\nDescription: a script\n' > build/deb/DEBIAN/control
printf '#!/bin/sh\necho hello-tool\n' > build/deb/usr/bin/hello-tool
printf 'data\n' > build/deb/usr/share/hello-tool/data
chmod 0755 build/deb/usr/bin/hello-tool build/deb/DEBIAN build/deb/usr build/deb/usr/bin build/deb/usr/share build/deb/usr/share/hello-tool
SOURCE_DATE_EPOCH=1690000000 dpkg-deb --root-owner-group -Zxz --build build/deb hello-tool_1.0_all.deb > /dev/null

mkdir -p build/whl/hello build/whl/hello-0.1.0.dist-info wheels
printf 'print("hi")\n' > build/whl/hello/__init__.py
printf 'Metadata-Version: 2.1\nName: hello\nVersion: 0.1.0\n' > build/whl/hello-0.1.0.dist-info/METADATA
(cd build/whl && TZ=UTC find . -exec touch -d '2023-05-01 00:00:00' {} + && zip -qrX ../../wheels/hello-0.1.0-py3-none-any.whl hello hello-0.1.0.dist-info)
mkdir -p build/jar/META-INF
printf 'Manifest-Version: 1.0\nMain-Class: App\n' > build/jar/META-INF/MANIFEST.MF
(cd build/jar && zip -qrX ../../app.jar META-INF)

cp left-pad-1.3.0.tgz vendor-bundle.bin
printf 'GeoLite2 placeholder\n' | gzip -n > GeoLite2-City.mmdb.gz
rm -rf build

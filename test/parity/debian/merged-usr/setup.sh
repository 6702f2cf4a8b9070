mkdir -p g/bin g/usr/bin g/etc/s6 g/lib/extra
echo a > g/bin/from-gnu-tar; echo b > g/usr/bin/usr-tool; echo c > g/etc/s6/conf; echo d > g/lib/extra/lib.so
chmod 755 g/bin g/lib
tar -C g --mtime='2021-02-03 04:05:06' --sort=name --owner=0 --group=0 --numeric-owner -cf overlay-gnu.tar ./
python3 - <<'PY'
import tarfile, io
with tarfile.open('overlay-py.tar', 'w', format=tarfile.PAX_FORMAT) as t:
    for name, kind in [('bin', 'dir'), ('bin/from-py-tar', 'file'), ('sbin', 'dir'), ('sbin/py-sbin', 'file'), ('lib64', 'dir')]:
        info = tarfile.TarInfo(name); info.mtime = 1612325106; info.uid = info.gid = 0
        if kind == 'dir':
            info.type = tarfile.DIRTYPE; info.mode = 0o755; t.addfile(info)
        else:
            data = name.encode(); info.size = len(data); info.mode = 0o644; t.addfile(info, io.BytesIO(data))
PY
rm -rf g

# Unix sockets in the context, as a dev server or an agent leaves them: node binds each and exits
# without closing, which leaves the socket's file. One has a second hard link.
mkdir -p dir/sub
node -e "
const net = require('net');
const paths = ['app.sock', 'dir/inner.sock', 'dir/sub/deep.sock'];
let left = paths.length;
for (const p of paths) net.createServer().listen(p, () => { if (--left === 0) process.exit(0); });
"
chmod 0640 app.sock
chmod 4750 dir/inner.sock
ln dir/inner.sock dir/inner-link.sock
echo file > dir/file

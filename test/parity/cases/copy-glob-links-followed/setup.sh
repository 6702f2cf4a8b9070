mkdir -p app/lib app/bin other vendored/node_modules/.bin vendored/node_modules/pkg
echo lib > app/lib/libx.so.1
ln -s libx.so.1 app/lib/libx.so
ln -s ../lib/libx.so app/bin/via-up
ln -s /app/lib/libx.so.1 app/bin/absolute
echo conf > other/conf
echo pkg > vendored/node_modules/pkg/cli.js
ln -s ../pkg/cli.js vendored/node_modules/.bin/pkg
ln -s ../missing/cli.js vendored/node_modules/.bin/dangling
ln -s vendored current

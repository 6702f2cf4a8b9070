mkdir -p src/lib/deep src/empty static/css
echo m > src/main.js
echo l > src/lib/l.js
echo d > src/lib/deep/d.js
echo c > static/css/site.css
echo s > setup.cfg
chmod 750 src/lib
chmod 640 src/main.js
ln -s lib/l.js src/link.js

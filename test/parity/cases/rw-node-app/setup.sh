mkdir -p node_modules/stale .git
echo stale > node_modules/stale/index.js
echo ref > .git/HEAD
echo debug > npm-debug.log
echo x > src/lib/trace.log

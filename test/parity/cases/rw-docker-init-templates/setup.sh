mkdir -p web/node_modules/x py/__pycache__ bin
echo stale > web/node_modules/x/index.js
echo pyc > py/__pycache__/app.cpython-312.pyc
echo built > bin/server
echo 'services: {}' > compose.yaml
echo SECRET=1 > .env

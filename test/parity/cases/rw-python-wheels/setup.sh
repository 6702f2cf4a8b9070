# caches a developer's checkout holds, which .dockerignore keeps out
mkdir -p app/__pycache__
echo cached > app/__pycache__/wsgi.cpython-312.pyc
echo stray > app/stray.pyc

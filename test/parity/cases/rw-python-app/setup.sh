mkdir -p app/__pycache__ .venv/bin app.egg-info
echo c > app/__pycache__/wsgi.cpython-311.pyc
echo o > app/stale.pyo
echo v > .venv/bin/python
echo e > app.egg-info/PKG-INFO
chmod 755 manage.py

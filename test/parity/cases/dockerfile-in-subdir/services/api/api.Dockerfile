# A Dockerfile below the context root, given with -f (case.json "file"), as monorepos build one
# service from a shared context: its own ignore file beside it (api.Dockerfile.dockerignore)
# wins over the context's .dockerignore, whose rules then do not apply at all (README.md and
# the .log file are sent), and the Dockerfile itself is part of the context.
FROM 127.0.0.1:5000/library/busybox:latest
COPY . /ctx/

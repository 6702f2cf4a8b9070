# git cannot hold a .git directory inside the repository: the one .dockerignore leaves out.
mkdir -p .git && echo 'ref: refs/heads/main' > .git/HEAD

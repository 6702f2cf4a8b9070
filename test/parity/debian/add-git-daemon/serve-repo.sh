#!/bin/sh
# Makes the repository the Dockerfile here adds and serves it with `git daemon` on
# git://127.0.0.1/repo.git (both builders reach it there); prints the daemon's pid, which the
# caller stops when done. Usage: sh serve-repo.sh DIR
set -eu
dir=$1
rm -rf "$dir/work" "$dir/repo.git"
mkdir -p "$dir/work"
cd "$dir/work"
git init -q -b main
git config user.email parity@example.invalid
git config user.name parity
mkdir -p bin docs/deep
printf '#!/bin/sh\n' > bin/run && chmod 755 bin/run
echo doc > docs/deep/d.md
ln -s docs/deep/d.md link
echo readme > README && chmod 600 README
printf '*.md text eol=crlf\n' > .gitattributes
echo line > docs/crlf.md
git add -A
GIT_COMMITTER_DATE=2021-03-04T05:06:07Z GIT_AUTHOR_DATE=2021-03-04T05:06:07Z git commit -q -m one
git tag v1
echo two > two.txt
git add two.txt
GIT_COMMITTER_DATE=2021-04-04T05:06:07Z GIT_AUTHOR_DATE=2021-04-04T05:06:07Z git commit -q -m two
GIT_COMMITTER_DATE=2021-04-04T05:06:07Z git tag -a v2 -m 'release two'
git clone -q --bare "$dir/work" "$dir/repo.git"
git daemon --reuseaddr --base-path="$dir" --export-all --listen=127.0.0.1 --port=9418 "$dir" >/dev/null 2>&1 &
echo $!

# Rules whose decision for a file depends on whether a pattern is tried on the file alone or on
# its parents too: BuildKit's client decides while it walks the context, each directory's results
# handed to its children, so a `!` rule for a directory that was not excluded when the rule came
# does not re-include what an earlier rule excluded below it.
mkdir -p d/sub e/sub f g/h
for f in d/x d/y d/sub/x e/sub/z e/w f/a.log f/b.txt g/h/i.log g/j.log; do echo "$f" > "$f"; done
cat > .dockerignore <<'IGN'
d/x
!d
**/sub/x
!d/sub
e/sub/z
!e
*.log
!f
!g/h
IGN

# An allow-list .dockerignore, as many Go and Node projects write theirs: everything out, then
# chosen trees, files and globs back in, some of them out again below; plus escaped `#` and
# `!`, bracket classes with `!` and `^`, `**/` in the middle and at the end, `./` and doubled
# slashes, a pattern that only names a parent of kept files.
mkdir -p cmd/server cmd/tool/testdata internal/db/migrations vendor/github.com/x/y node_modules/a docs/img \
  web/src web/node_modules/b web/dist .github/workflows deploy/k8s deploy/helm/templates
for f in go.mod go.sum main.go README.md LICENSE '#hash.txt' '!bang.txt' a.txt b.txt c.txt ab.txt \
  cmd/server/main.go cmd/server/main_test.go cmd/tool/main.go cmd/tool/testdata/in.golden \
  internal/db/db.go internal/db/migrations/001_init.sql internal/db/migrations/002.down.sql \
  vendor/modules.txt vendor/github.com/x/y/y.go node_modules/a/index.js docs/index.md docs/img/logo.png \
  web/package.json web/src/app.ts web/src/app.test.ts web/node_modules/b/x.js web/dist/bundle.js \
  .github/workflows/ci.yml deploy/k8s/deployment.yaml deploy/helm/Chart.yaml deploy/helm/templates/svc.yaml \
  .env .env.example; do printf '%s\n' "$f" > "$f"; done
cat > .dockerignore <<'IGN'
# everything out
*
**
# then back in
!go.mod
!go.sum
!main.go
!cmd/
!internal
**/*_test.go
!vendor/**
!web/src/
web/src/*.test.ts
!web/package.json
!deploy/**/*.yaml
!./docs//index.md
\#hash.txt
!\#hash.txt
!\!bang.txt
![!ab].txt
![^c]b.txt
!cmd/**/testdata/**
!.env.example
IGN

mkdir -p .git/objects packages/api/src packages/api/node_modules/dep packages/web/dist packages/web/src/__tests__ docs/api docs/guide coverage/lcov tmp build/keep build/drop
echo h > .git/HEAD; echo o > .git/objects/ab
echo a > packages/api/src/index.ts
echo t > packages/api/src/index.test.ts
echo d > packages/api/node_modules/dep/index.js
echo dist > packages/web/dist/bundle.js
echo w > packages/web/src/app.tsx
echo s > packages/web/src/__tests__/app.test.tsx
echo readme > README.md
echo changelog > CHANGELOG.md
echo guide > docs/guide/intro.md
echo api > docs/api/ref.md
echo lcov > coverage/lcov/info
echo t1 > tmp/a.tmp
echo k > build/keep/k.txt
echo dr > build/drop/d.txt
echo e > .env
echo el > .env.local
echo ee > .env.example
echo l1 > log1.log
echo l2 > logA.log
echo l3 > log10.log
cat > .dockerignore <<'IGN'
# version control
.git
**/node_modules
**/*.test.ts*
**/__tests__/**
packages/*/dist/

# docs: only the API reference
docs/**
!docs/api/**
*.md
!README.md
/coverage
tmp/*.tmp
build
!build/keep
.env*
!.env.example
log?.log
log[0-9][0-9].log
Dockerfile
.dockerignore
IGN

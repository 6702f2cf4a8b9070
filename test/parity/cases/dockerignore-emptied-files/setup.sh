# A file the client's walk sends (an earlier `!` rule re-includes it and the later rule for its
# directory was skipped there, the directory being excluded already) but the client's open
# refuses (that rule, tried on the file's parents, excludes it): BuildKit's context holds the
# file, with its mode and times, and no content.
mkdir -p deploy/helm/templates deploy/k8s
for f in deploy/helm/Chart.yaml deploy/helm/templates/svc.yaml deploy/helm/templates/NOTES.txt deploy/k8s/app.yaml main.go; do echo "$f" > "$f"; done
chmod 600 deploy/helm/templates/svc.yaml
# a tar named .yaml: ADD unpacks it only when its content arrives
mkdir -p t && echo inner > t/inner && tar -C t --mtime=2021-01-01 --owner=0 --group=0 --numeric-owner -cf deploy/helm/templates/chart.yaml inner && cp deploy/helm/templates/chart.yaml deploy/k8s/chart.yaml && rm -rf t
cat > .dockerignore <<'IGN'
*
!main.go
!deploy/**/*.yaml
deploy/helm/templates
IGN

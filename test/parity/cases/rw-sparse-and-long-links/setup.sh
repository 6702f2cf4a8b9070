d="links/$(printf 'segment-%.0s' $(seq 1 14))"
mkdir -p "$d"
echo content > "$d/$(printf 'first-name-%.0s' $(seq 1 9))"
ln "$d/$(printf 'first-name-%.0s' $(seq 1 9))" "$d/$(printf 'second-name-%.0s' $(seq 1 9))"
ln "$d/$(printf 'first-name-%.0s' $(seq 1 9))" links/short

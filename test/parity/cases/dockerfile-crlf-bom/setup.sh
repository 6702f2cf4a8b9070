{ printf '\357\273\277'; sed 's/$/\r/' Dockerfile; } > Dockerfile.crlf
mv Dockerfile.crlf Dockerfile

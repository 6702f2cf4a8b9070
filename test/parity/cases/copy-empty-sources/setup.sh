mkdir -p empty
: > empty.txt

ln one two
ln one dir/three
ln dir/a dir/b

chmod 750 dir/nested/y
chmod 700 dir/nested
chmod 700 private

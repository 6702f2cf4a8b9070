# The release tarball, made the same every time: modes as upstream ships them (scripts not yet
# executable, a 0600 config, a 0700 directory), Windows scripts the build removes.
t=apache-tomcat
mkdir -p $t/bin $t/conf $t/lib $t/logs $t/temp $t/work $t/webapps/ROOT
for s in catalina startup shutdown; do printf '#!/bin/sh\necho %s "$@"\n' $s > $t/bin/$s.sh; printf '@echo off\r\n' > $t/bin/$s.bat; done
chmod 0644 $t/bin/*.sh
echo '<Server port="8005"/>' > $t/conf/server.xml && chmod 0600 $t/conf/server.xml
echo 'users' > $t/conf/tomcat-users.xml && chmod 0700 $t/conf
echo jar > $t/lib/catalina.jar && echo index > $t/webapps/ROOT/index.jsp
find $t -exec touch -h -d @1600000000 {} +
tar --sort=name --mtime=@1600000000 --owner=0 --group=0 --numeric-owner -czf apache-tomcat.tar.gz $t && rm -r $t

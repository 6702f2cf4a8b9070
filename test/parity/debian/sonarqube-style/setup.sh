# The release zip as SonarSource ships it: a versioned top directory, a jar named by version,
# empty data, logs and temp directories, extensions with a README, 0644 files and 0755 bin.
set -e
r=sonarqube-10.3.0.82913
mkdir -p $r/bin/linux-x86-64 $r/conf $r/data $r/extensions/plugins $r/extensions/jdbc-driver/postgresql $r/lib/jdbc $r/logs $r/temp $r/elasticsearch/config
printf '#!/bin/sh\necho sonar\n' > $r/bin/linux-x86-64/sonar.sh && chmod 0755 $r/bin/linux-x86-64/sonar.sh
printf '#sonar.path.data=data\n#sonar.path.temp=temp\n' > $r/conf/sonar.properties
printf 'wrapper.java.command=java\n' > $r/conf/wrapper.conf
echo 'jar' > $r/lib/sonar-application-10.3.0.82913.jar
echo 'driver' > $r/extensions/jdbc-driver/postgresql/postgresql-42.6.0.jar
echo 'plugins go here' > $r/extensions/plugins/README.txt
echo 'es' > $r/elasticsearch/config/elasticsearch.yml
echo 'keep' > $r/logs/README.txt
find $r -exec touch -h -d '2023-11-14 09:30:00' {} +
zip -X -q -r sonarqube-10.3.0.82913.zip $r
rm -rf $r

chmod 755 mvnw

import jenkins.model.*

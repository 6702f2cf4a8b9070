require("./lib/util")

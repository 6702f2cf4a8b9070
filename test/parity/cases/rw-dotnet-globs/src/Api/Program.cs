apicode

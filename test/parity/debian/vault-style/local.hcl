storage "file" {
  path = "/vault/file"
}
disable_mlock = false

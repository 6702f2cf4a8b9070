/* xattr set NAME VALUE PATH | xattr get NAME PATH | xattr list PATH: what busybox lacks. */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/xattr.h>
int main(int argc, char **argv) {
  char buffer[4096];
  if (argc == 5 && strcmp(argv[1], "set") == 0) {
    if (lsetxattr(argv[4], argv[2], argv[3], strlen(argv[3]), 0) != 0) { printf("set %s %s: %s\n", argv[2], argv[4], strerror(errno)); return 1; }
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "get") == 0) {
    ssize_t n = lgetxattr(argv[3], argv[2], buffer, sizeof buffer - 1);
    if (n < 0) { printf("%s %s: %s\n", argv[3], argv[2], strerror(errno)); return 1; }
    buffer[n] = 0; printf("%s %s=%s\n", argv[3], argv[2], buffer); return 0;
  }
  if (argc == 3 && strcmp(argv[1], "list") == 0) {
    ssize_t n = llistxattr(argv[2], buffer, sizeof buffer);
    if (n < 0) { printf("%s: %s\n", argv[2], strerror(errno)); return 1; }
    printf("%s:", argv[2]);
    for (char *name = buffer; name < buffer + n; name += strlen(name) + 1) printf(" %s", name);
    printf("\n"); return 0;
  }
  fprintf(stderr, "usage: xattr set NAME VALUE PATH | get NAME PATH | list PATH\n");
  return 2;
}

/* Helpers shared by the driver's subcommands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

char *drv_read_file(const char *path, size_t *len) {
  FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!in) {
    fprintf(stderr, "dlc: error: cannot open '%s': %s\n", path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, in)) > 0;) {
    n += got;
    if (cap - n - 1 == 0) {
      char *bigger = realloc(buf, cap *= 2);
      if (!bigger) free(buf);
      buf = bigger;
    }
  }
  bool failed = !buf || ferror(in);
  if (in != stdin) fclose(in);
  if (failed) {
    fprintf(stderr, "dlc: error: cannot read '%s'\n", path);
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

void drv_report(const char *file, const ir_error *err) {
  if (err->loc.line > 0)
    fprintf(stderr, "%s:%d:%d: error: %s\n", file, err->loc.line, err->loc.col, err->msg);
  else
    fprintf(stderr, "%s: error: %s\n", file, err->msg);
}

bool drv_option(int argc, char **argv, int *i, const char *name, const char **value) {
  const char *arg = argv[*i];
  size_t len = strlen(name);
  if (strncmp(arg, name, len) != 0) return false;
  if (arg[len] == '=') {
    *value = arg + len + 1;
    return true;
  }
  if (arg[len] != '\0') return false;
  if (*i + 1 >= argc) {
    fprintf(stderr, "dlc: error: option '%s' needs a value\n", name);
    exit(2);
  }
  *value = argv[++*i];
  return true;
}

bool drv_input(const char *cmd, const char *arg, const char **input, void (*usage)(FILE *)) {
  if (arg[0] == '-' && arg[1] != '\0') {
    fprintf(stderr, "%s: error: unknown option '%s'\n", cmd, arg);
    usage(stderr);
    return false;
  }
  if (*input) {
    fprintf(stderr, "%s: error: more than one input file ('%s' and '%s')\n", cmd, *input, arg);
    return false;
  }
  *input = arg;
  return true;
}

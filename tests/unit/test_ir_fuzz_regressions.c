/* Replays the parser's fuzz inputs: every crash the fuzzer found (kept in
 * tests/fuzz/regressions/ir/ after the fix) and the seed corpus. Each input must hold the
 * fuzz target's property: either an error with a location, or a module that verifies and
 * prints to text that parses back to the same text. Seeds named valid_* must parse and
 * bad_* must not. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static char *read_all(const char *path, size_t *len) {
  FILE *in = fopen(path, "rb");
  cr_assert_not_null(in, "cannot open %s", path);
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (size_t got; (got = fread(buf + n, 1, cap - n, in)) > 0;) {
    n += got;
    if (n == cap) buf = realloc(buf, cap *= 2);
    cr_assert_not_null(buf);
  }
  fclose(in);
  *len = n;
  return buf;
}

/* Returns whether the input parsed; fails the test if the property does not hold. */
static bool check_input(const char *path) {
  size_t len;
  char *text = read_all(path, &len);
  ir_error err = {0};
  ir_module *m = ir_parse(text, len, &err);
  free(text);
  if (!m) {
    cr_expect(err.loc.line >= 1 && err.loc.col >= 1 && err.msg[0], "%s: error without location: '%s'",
              path, err.msg);
    return false;
  }
  cr_expect(ir_verify_module(m, &err), "%s: parsed but does not verify: %s", path, err.msg);
  char *first = ir_module_to_string(m);
  ir_module *again = ir_parse(first, strlen(first), &err);
  cr_expect_not_null(again, "%s: printed text does not parse: %d:%d: %s", path, err.loc.line,
                     err.loc.col, err.msg);
  if (again) {
    char *second = ir_module_to_string(again);
    cr_expect_str_eq(second, first, "%s: text changed on a round trip", path);
    free(second);
    ir_module_destroy(again);
  }
  free(first);
  ir_module_destroy(m);
  return true;
}

/* Checks every regular file of a folder; returns how many there were. */
static int check_folder(const char *dir, bool seeds) {
  DIR *d = opendir(dir);
  cr_assert_not_null(d, "cannot open %s", dir);
  int count = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    bool parsed = check_input(path);
    count++;
    if (seeds && strncmp(e->d_name, "valid_", 6) == 0)
      cr_expect(parsed, "seed %s should parse", e->d_name);
    if (seeds && strncmp(e->d_name, "bad_", 4) == 0)
      cr_expect_not(parsed, "seed %s should not parse", e->d_name);
  }
  closedir(d);
  return count;
}

Test(ir_fuzz, regressions_hold_the_fuzz_property) {
  int n = check_folder(DLC_SOURCE_DIR "/tests/fuzz/regressions/ir", false);
  cr_log_info("%d regression inputs", n);
}

Test(ir_fuzz, seed_corpus_parses_as_named) {
  int n = check_folder(DLC_SOURCE_DIR "/tests/fuzz/corpus/ir", true);
  cr_expect_geq(n, 10, "the seed corpus has only %d files", n);
}

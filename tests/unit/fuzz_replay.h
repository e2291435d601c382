/* What the fuzz-replay tests share: every file of a folder (the seed corpus, or the inputs that
 * once broke a parser and are kept after the fix) goes through the fuzz target's own check.
 * Seeds named valid_* must be accepted, bad_* must not. */
#ifndef DLC_TEST_FUZZ_REPLAY_H
#define DLC_TEST_FUZZ_REPLAY_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks one input (failing the test where the fuzz property does not hold) and returns
 * whether it was accepted. */
typedef bool (*fuzz_check)(const char *name, const char *text, size_t len);

static char *fuzz_read_all(const char *path, size_t *len) {
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

/* Returns how many files the folder held. */
static int fuzz_replay_folder(const char *dir, bool seeds, fuzz_check check) {
  DIR *d = opendir(dir);
  cr_assert_not_null(d, "cannot open %s", dir);
  int count = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    size_t len;
    char *text = fuzz_read_all(path, &len);
    bool accepted = check(e->d_name, text, len);
    free(text);
    count++;
    if (seeds && strncmp(e->d_name, "valid_", 6) == 0) cr_expect(accepted, "seed %s should be accepted", e->d_name);
    if (seeds && strncmp(e->d_name, "bad_", 4) == 0) cr_expect_not(accepted, "seed %s should be rejected", e->d_name);
  }
  closedir(d);
  return count;
}

#endif

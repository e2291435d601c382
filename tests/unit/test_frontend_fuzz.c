/* Replays the frontend's fuzz inputs through the fuzz target's own check: the seed corpus
 * (valid_* must compile, bad_* must not) and every input that once broke the frontend
 * (tests/fuzz/regressions/frontend, kept after the fix). Also a few hostile inputs that
 * stress the limits: deep nesting, exponential inlining, huge literals. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_replay.h"

#define FE_FUZZ_NO_MAIN
#include "../fuzz/fuzz_frontend.c"

static bool compiles(const char *name, const char *text, size_t len) {
  bool compiled;
  const char *bad = fe_fuzz_check((const uint8_t *)text, len, &compiled);
  cr_expect_null(bad, "%s: %s", name, bad);
  return compiled;
}

Test(frontend_fuzz, seed_corpus_compiles_as_named) {
  int n = fuzz_replay_folder(DLC_SOURCE_DIR "/tests/fuzz/corpus/frontend", true, compiles);
  cr_expect_geq(n, 20, "the seed corpus has only %d files", n);
}

Test(frontend_fuzz, regressions_hold_the_fuzz_property) {
  int n = fuzz_replay_folder(DLC_SOURCE_DIR "/tests/fuzz/regressions/frontend", false, compiles);
  cr_log_info("%d regression inputs", n);
}

static void hostile(const char *text, bool should_compile) {
  bool compiled;
  const char *bad = fe_fuzz_check((const uint8_t *)text, strlen(text), &compiled);
  cr_assert_null(bad, "%s", bad);
  cr_assert_eq(compiled, should_compile);
}

Test(frontend_fuzz, limits_hold_on_hostile_inputs) {
  /* Nesting deeper than the parser's limit. */
  size_t n = 5000;
  char *deep = malloc(2 * n + 64);
  strcpy(deep, "input X: f32[2]\noutput X\nloss ");
  size_t k = strlen(deep);
  for (size_t i = 0; i < n; i++) deep[k++] = '(';
  deep[k++] = 'X';
  for (size_t i = 0; i < n; i++) deep[k++] = ')';
  strcpy(deep + k, "\n");
  hostile(deep, false);
  for (size_t i = 0; i < k; i++)
    if (deep[i] == '(' || deep[i] == ')') deep[i] = deep[i] == '(' ? '[' : ']';
  hostile(deep, false);
  free(deep);
  /* Each function calls the one before twice: 2^30 inlined copies if nothing stops it. */
  char buf[8192];
  size_t len = (size_t)snprintf(buf, sizeof buf, "def f0(x) = x * 2\n");
  for (int i = 1; i <= 30; i++) len += (size_t)snprintf(buf + len, sizeof buf - len, "def f%d(x) = f%d(x) + f%d(x)\n", i, i - 1, i - 1);
  snprintf(buf + len, sizeof buf - len, "input X: f32[2]\noutput f30(X)\nloss mean(X)\n");
  hostile(buf, false);
  /* Huge shapes are refused, not allocated. */
  hostile("input X: f32[100000000, 100000000, 100000000]\noutput X\nloss mean(X)\n", false);
  hostile("input X: f32[2]\nh = one_hot(iota([100000]), 100000000000)\noutput X\nloss mean(X)\n", false);
  hostile("input X: f32[2]\noutput X\nloss mean(X) + 1e308 * 1e308\n", false);
}

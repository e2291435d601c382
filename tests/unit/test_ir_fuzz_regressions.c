/* Replays the parser's fuzz inputs: every crash the fuzzer found (kept in
 * tests/fuzz/regressions/ir/ after the fix) and the seed corpus. Each input must hold the
 * fuzz target's property: either an error with a location, or a module that verifies and
 * prints to text that parses back to the same text. Seeds named valid_* must parse and
 * bad_* must not. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_replay.h"

#include "ir.h"

/* Returns whether the input parsed; fails the test if the property does not hold. */
static bool check_input(const char *name, const char *text, size_t len) {
  ir_error err = {0};
  ir_module *m = ir_parse(text, len, &err);
  if (!m) {
    cr_expect(err.loc.line >= 1 && err.loc.col >= 1 && err.msg[0], "%s: error without location: '%s'",
              name, err.msg);
    return false;
  }
  cr_expect(ir_verify_module(m, &err), "%s: parsed but does not verify: %s", name, err.msg);
  char *first = ir_module_to_string(m);
  ir_module *again = ir_parse(first, strlen(first), &err);
  cr_expect_not_null(again, "%s: printed text does not parse: %d:%d: %s", name, err.loc.line,
                     err.loc.col, err.msg);
  if (again) {
    char *second = ir_module_to_string(again);
    cr_expect_str_eq(second, first, "%s: text changed on a round trip", name);
    free(second);
    ir_module_destroy(again);
  }
  free(first);
  ir_module_destroy(m);
  return true;
}

Test(ir_fuzz, regressions_hold_the_fuzz_property) {
  int n = fuzz_replay_folder(DLC_SOURCE_DIR "/tests/fuzz/regressions/ir", false, check_input);
  cr_log_info("%d regression inputs", n);
}

Test(ir_fuzz, seed_corpus_parses_as_named) {
  int n = fuzz_replay_folder(DLC_SOURCE_DIR "/tests/fuzz/corpus/ir", true, check_input);
  cr_expect_geq(n, 10, "the seed corpus has only %d files", n);
}

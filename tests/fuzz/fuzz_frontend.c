/* libFuzzer target for the frontend: any bytes either fail to compile with diagnostics
 * that make sense (at least one error; each error and warning with a position and a
 * message, each note after one of them; printable with the source), or compile into a
 * module that verifies, has the outputs dlc promises, and prints to IR text that parses
 * back and prints identically. Never a crash, a leak or a hang.
 *
 * Built and run by `scripts/fuzz.sh frontend`; test_frontend_fuzz replays the seed
 * corpus (tests/fuzz/corpus/frontend) and every crash found (tests/fuzz/regressions/
 * frontend) through the same check, by including this file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"

/* NULL if the property holds for this input, else what is wrong (static text).
 * *compiled tells whether the input compiled. */
static const char *fe_fuzz_check(const uint8_t *data, size_t size, bool *compiled) {
  static char why[640];
  fe_diagnostics d;
  fe_diagnostics_init(&d);
  ir_module *m = fe_compile("fuzz.def", (const char *)data, size, NULL, &d);
  const char *bad = NULL;
  *compiled = m != NULL;

  if (!m && d.nerrors == 0) bad = "no module and no error";
  if (m && d.nerrors != 0) bad = "a module despite errors";
  for (int i = 0; i < d.count && !bad; i++) {
    const fe_diag *g = &d.items[i];
    if (!g->message || !g->message[0]) bad = "a diagnostic without a message";
    else if (g->severity == FE_NOTE && i == 0)
      bad = "a note that belongs to nothing";
    else if (g->severity != FE_NOTE && (g->line < 1 || g->col < 1) &&
             strcmp(g->message, "too many errors; stopping here") != 0) {
      snprintf(why, sizeof why, "a diagnostic without a position: %s", g->message);
      bad = why;
    }
  }
  FILE *null = fopen("/dev/null", "w");
  if (null) {
    fe_print_diagnostics(null, &d, (const char *)data, size);
    fclose(null);
  }
  fe_diagnostics_free(&d);
  if (!m || bad) {
    ir_module_destroy(m);
    return bad;
  }

  ir_error err = {0};
  ir_func *f = ir_module_find_func(m, "forward");
  ir_node *loss = f ? ir_func_find_output(f, "loss") : NULL;
  char *first = NULL, *second = NULL;
  ir_module *again = NULL;
  if (!ir_verify_module(m, &err)) {
    snprintf(why, sizeof why, "the module does not verify: %s", err.msg);
    bad = why;
  } else if (!loss || loss->type.rank != 0 || loss->type.dtype != IR_F32) {
    bad = "no f32 scalar loss";
  } else if (!ir_func_find_output(f, "prediction")) {
    bad = "no prediction";
  } else if (!(first = ir_module_to_string(m))) {
    bad = "printing failed";
  } else if (!(again = ir_parse(first, strlen(first), &err))) {
    snprintf(why, sizeof why, "the printed IR does not parse: %d:%d: %s", err.loc.line, err.loc.col, err.msg);
    bad = why;
  } else if (!(second = ir_module_to_string(again)) || strcmp(first, second) != 0) {
    bad = "print -> parse -> print changed the IR";
  }
  free(first);
  free(second);
  ir_module_destroy(again);
  ir_module_destroy(m);
  return bad;
}

#ifndef FE_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bool compiled;
  const char *bad = fe_fuzz_check(data, size, &compiled);
  if (bad) {
    fprintf(stderr, "fuzz_frontend: %s\n--- input ---\n%.*s\n--- end ---\n", bad, (int)size, (const char *)data);
    abort();
  }
  return 0;
}
#endif

/* libFuzzer target for the textual IR: any bytes either fail to parse with a located
 * error, or parse into a module that verifies and prints to text that parses back and
 * prints identically. Built and run by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static _Noreturn void broken(const char *what, const ir_error *err, const char *text) {
  fprintf(stderr, "fuzz_ir_parse: %s\n", what);
  if (err) fprintf(stderr, "  %d:%d: %s\n", err->loc.line, err->loc.col, err->msg);
  if (text) fprintf(stderr, "--- text ---\n%s--- end ---\n", text);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ir_error err = {0};
  ir_module *m = ir_parse((const char *)data, size, &err);
  if (!m) {
    if (err.loc.line < 1 || err.loc.col < 1 || !err.msg[0])
      broken("error without a location or message", &err, NULL);
    return 0;
  }
  char *first = ir_module_to_string(m);
  if (!first) broken("printing failed", NULL, NULL);
  if (!ir_verify_module(m, &err)) broken("parsed module does not verify", &err, first);
  ir_module *again = ir_parse(first, strlen(first), &err);
  if (!again) broken("printed text does not parse", &err, first);
  char *second = ir_module_to_string(again);
  if (!second || strcmp(first, second) != 0) {
    fprintf(stderr, "--- second print ---\n%s", second ? second : "(null)\n");
    broken("print -> parse -> print changed the text", NULL, first);
  }
  free(first);
  free(second);
  ir_module_destroy(again);
  ir_module_destroy(m);
  return 0;
}

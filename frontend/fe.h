/* The frontend: reads a model description (`.def`, see docs/language.md), explains every
 * mistake in it the way a compiler does, and lowers it to verified tensor IR.
 *
 * The library never prints and never exits: problems become diagnostics (values with a
 * file, line, column and message) collected in an fe_diagnostics list, which the caller
 * prints with fe_print_diagnostics when and where it wants. */
#ifndef DLC_FE_H
#define DLC_FE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ir.h"

/* ---- diagnostics --------------------------------------------------------------- */

typedef enum {
  FE_ERROR,
  FE_WARNING,
  FE_NOTE, /* belongs to the error or warning before it in the list */
} fe_severity;

typedef struct {
  fe_severity severity;
  char *file;          /* the path given to fe_compile (owned copy) */
  int line, col;       /* 1-based position of the caret; 0 = no position */
  int range_start;     /* 1-based columns on `line` to underline with '~', [start, end); */
  int range_end;       /* both 0 when there is no range */
  char *message;       /* owned */
} fe_diag;

typedef struct {
  fe_diag *items;
  int count, cap;
  int nerrors, nwarnings;
} fe_diagnostics;

void fe_diagnostics_init(fe_diagnostics *d);
void fe_diagnostics_free(fe_diagnostics *d);
/* Appends a diagnostic (printf-style message). Returns false once the error limit is
 * reached, after which further errors are dropped. */
bool fe_diag_add(fe_diagnostics *d, fe_severity sev, const char *file, int line, int col,
                 int range_start, int range_end, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* Prints every diagnostic clang-style: `file:line:col: error: message`, the source line
 * and a caret under the column (with '~' under a known range). `source` is the text the
 * diagnostics refer to (may be NULL: then only the first line is printed). */
void fe_print_diagnostics(FILE *out, const fe_diagnostics *d, const char *source, size_t len);

/* ---- compiling a model ---------------------------------------------------------- */

typedef struct {
  /* Value of the symbolic batch dimension `batch`; 0 = the model file's `batch = N`. */
  int64_t batch;
} fe_options;

/* Compiles a model. Returns a verified module whose function @forward takes the model's
 * inputs (features, then labels, each in declared order) and parameters, and has the
 * outputs `loss` (f32 scalar) and `prediction`; the model's settings are in meta entries
 * (see docs/language.md, "What the compiler produces"). Returns NULL when any error was
 * reported into `diags`. `path` is only used in diagnostics; `source` needs no NUL.
 * `opts` may be NULL. The caller owns the module (ir_module_destroy). */
ir_module *fe_compile(const char *path, const char *source, size_t len, const fe_options *opts,
                      fe_diagnostics *diags);

/* ---- tables the rest of dlc may reuse -------------------------------------------- */

/* The parameter initialisers the language knows. The runtime (runtime/init.c) reads the
 * same specs; the frontend may not link it, so the table is mirrored here and a unit test
 * checks that the two agree. */
typedef struct {
  const char *name;
  int nargs;
  const char *args[3];
  double defaults[3];
  int nrequired;     /* leading arguments without a default */
  bool mode_arg[3];  /* takes fan_in or fan_out instead of a number */
} fe_initializer;

/* By name or alias (glorot_uniform, he_normal, zero, one); NULL if unknown. */
const fe_initializer *fe_find_initializer(const char *name, size_t len);

/* Built-in functions of the language; NULL-terminated list of names (for completion,
 * the tests and the docs). */
const char *const *fe_builtin_names(void);

#endif

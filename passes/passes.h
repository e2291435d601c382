/* The pass manager and the registry of IR→IR passes.
 *
 * A pass transforms a whole module in place. What a pass needs beyond the IR (the
 * optimiser and its hyper-parameters, say) it reads from the module's meta entries, so
 * every pass runs the same way on text (`dlc opt -p`) as inside the compiler. */
#ifndef DLC_PASSES_H
#define DLC_PASSES_H

#include "ir.h"

typedef bool (*pass_fn)(ir_module *m, ir_error *err);

typedef struct {
  const char *name;
  pass_fn run;
  const char *summary;
} pass_info;

#define PASS(name, fn, summary) bool fn(ir_module *m, ir_error *err);
#include "passes.def"

extern const pass_info pass_registry[];
extern const int pass_count;
const pass_info *pass_find(const char *name);

typedef struct {
  bool verify_each;          /* run the verifier after every pass, naming the pass that broke it */
  bool print_after_all;
  const char *print_before;  /* comma-separated pass names, or NULL */
  const char *print_after;
  bool time_passes;          /* a table of time per pass on `report` */
  FILE *dump;                /* where printing goes (stderr if NULL) */
  /* Passes the caller adds to the registry: the driver adds the backend's memplan, which
   * passes/ cannot name without depending on the backend. */
  const pass_info *extra;
  int nextra;
} pass_options;

/* Runs a comma-separated pipeline. On failure err names the pass. */
bool pass_run_pipeline(ir_module *m, const char *pipeline, const pass_options *opts,
                       ir_error *err);

#endif

/* Gradient checking: reverse-mode gradients (the autodiff pass) against central finite
 * differences and against forward-mode JVPs (the jvp pass), all evaluated in f64 by the
 * reference interpreter. Used by `dlc gradcheck` and by the per-op tests. */
#ifndef DLC_PASSES_GRADCHECK_H
#define DLC_PASSES_GRADCHECK_H

#include "ir.h"

typedef struct {
  uint64_t seed;   /* data, parameters, sampled elements and directions */
  double eps;      /* central-difference step (default 1e-6) */
  double tol;      /* an element agrees when |a - b| <= tol * max(1, |a|, |b|) (default 1e-6) */
  int samples;     /* elements of each parameter checked by finite differences; 0 = all */
  int directions;  /* random JVP directions per parameter (default 2) */
} pass_gradcheck_options;

typedef struct {
  const char *name;    /* the parameter (points into the module) */
  ir_type type;
  int64_t checked;     /* elements compared with finite differences */
  double max_abs;      /* max |reverse - FD| over them */
  double max_rel;      /* max |reverse - FD| / max(|reverse|, |FD|) (0 where both are 0) */
  double jvp_err;      /* worst scaled |JVP - <grad, v>| over the directions */
  double jvp_fd_err;   /* worst scaled |JVP - FD along v| */
  bool ok;
} pass_gradcheck_param;

typedef struct {
  const char *func;    /* the function checked (@forward, or the loss function) */
  double loss;         /* at the random point */
  double loss_err;     /* scaled difference of @gradients' loss from it (must be <= tol) */
  int nparams;
  pass_gradcheck_param *params; /* malloc'd */
  bool ok;
} pass_gradcheck_report;

/* Fills in defaults for the zero fields of o. */
void pass_gradcheck_defaults(pass_gradcheck_options *o);

/* Checks the loss function of m (@forward, else the one function autodiff would pick).
 * Runs `autodiff` and `jvp` on m unless @gradients / @jvp (or NAME.gradients, NAME.jvp)
 * are there already, in which case those are checked as they are: so m gains functions.
 * Arguments get seeded random values: floats uniform in [-1, 1) (parameters scaled by
 * 1/sqrt(fan-in)), integer inputs uniform in the range their one_hot or gather uses
 * allow ([0, 2) if none), bools 0 or 1. False and err if the check could not be run
 * (bad module, interpreter error); otherwise true with report->ok telling the verdict.
 * `init` (may be NULL) is called after the random fill to let a caller set arguments of
 * its own (a test that needs positive inputs, say); it gets the interpreter-ready buffer
 * of every argument by name. */
typedef void (*pass_gradcheck_init)(void *ctx, const char *arg, const ir_type *type, double *data);
bool pass_gradcheck(ir_module *m, const pass_gradcheck_options *opts, pass_gradcheck_init init,
                    void *ctx, pass_gradcheck_report *report, ir_error *err);
void pass_gradcheck_report_free(pass_gradcheck_report *r);

#endif

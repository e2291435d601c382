/* The reference interpreter: evaluates a function of the tensor IR in f64, one node at a
 * time, with no cleverness. It is the oracle the gradient checker and the backend's tests
 * compare against, so it favours obviously-correct loops over speed.
 *
 * Every value is a dense row-major array of doubles, whatever its declared dtype: f32
 * values are not rounded to float, integers and bools are carried as exact doubles
 * (integer results are truncated toward zero, bools are 0 or 1).
 *
 * Conventions the backend must match:
 *   - softmax, log_softmax and logsumexp subtract the maximum first (no overflow);
 *   - gather with an index outside [0, n) is an error naming the node;
 *   - one_hot of an index outside [0, depth) is a row of zeros;
 *   - integer division by zero is 0;
 *   - reduce_max over an all-NaN slice is NaN, max/min propagate NaN.
 *
 * Typical use from a test:
 *   ir_interp *in = ir_interp_create(ir_module_find_func(m, "forward"));
 *   ir_interp_set_arg(in, "x", xs, 20, &err);   // or fill ir_interp_arg(in, "x")
 *   ir_interp_run(in, &err);
 *   double loss = ir_interp_output(in, "loss", NULL)[0];
 *   ir_interp_destroy(in); */
#ifndef DLC_IR_INTERP_H
#define DLC_IR_INTERP_H

#include "ir.h"

typedef struct ir_interp ir_interp;

/* Prepares to evaluate f. Argument buffers exist from here on and start as zeros. The
 * function must stay alive and unchanged while the interpreter is used. NULL when memory
 * for the arguments runs out (a huge parameter). */
ir_interp *ir_interp_create(const ir_func *f);
void ir_interp_destroy(ir_interp *in);

/* The buffer of argument `name` (ir_type_numel of its type doubles, at least one),
 * writable; NULL if the function has no such argument. */
double *ir_interp_arg(ir_interp *in, const char *name);
/* Copies `n` values into argument `name`; false with a message if there is no such
 * argument or n is not its number of elements. */
bool ir_interp_set_arg(ir_interp *in, const char *name, const double *data, int64_t n,
                       ir_error *err);

/* Evaluates every node of the body in order. Arguments keep their values, so a run can
 * be repeated after changing some of them. False and err (with the node's loc) on a
 * run-time error such as an out-of-range gather index. */
bool ir_interp_run(ir_interp *in, ir_error *err);

/* After a successful run: the value of output `name`, or the new value of the PARAM or
 * STATE argument `target` named by an update line; NULL if there is none. `type`, when
 * not NULL, receives the value's type. */
const double *ir_interp_output(const ir_interp *in, const char *name, ir_type *type);
const double *ir_interp_update(const ir_interp *in, const char *target, ir_type *type);
/* The value of any node of the function (argument or body node) after a run. */
const double *ir_interp_value(const ir_interp *in, const ir_node *n);

/* Evaluates one node on its own: args[i] holds operand i (n->args[i]->type elements),
 * out receives ir_type_numel(&n->type) values. Usable by passes that fold constants.
 * Argument nodes (INPUT, PARAM, STATE) have no value of their own and are an error. */
bool ir_interp_eval_node(const ir_node *n, const double *const *args, double *out,
                         ir_error *err);

#endif

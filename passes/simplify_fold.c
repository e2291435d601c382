/* Constant folding for simplify: an op whose operands are all splat constants (every
 * element the same value) is itself a splat, computed here once.
 *
 * Elementwise ops are evaluated by the reference interpreter on a single element
 * (ir_interp_eval_node on a scalar copy of the node), so a folded value can never
 * disagree with what the interpreter, the oracle of every backend test, computes. The
 * other families have closed forms on splats: a layout op moves equal values, a sum of k
 * equal values is k·v, a matmul's element is K·a·b. Values are folded in f64 and kept as
 * f64 in the constant; the backend rounds them to the node's dtype when it emits them. */
#include "interp.h"
#include "simplify.h"

#include <math.h>
#include <string.h>

/* Evaluates an elementwise n on one element of each (splat) operand. */
static bool fold_elementwise(const ir_node *n, const double *vals, double *out) {
  ir_node scalars[3];
  ir_node *argp[3];
  const double *argv[3];
  IR_ASSERT(n->nargs <= 3);
  for (int i = 0; i < n->nargs; i++) {
    scalars[i] = *n->args[i];
    scalars[i].type = ir_type_scalar(n->args[i]->type.dtype);
    argp[i] = &scalars[i];
    argv[i] = &vals[i];
  }
  ir_node probe = *n;
  probe.args = argp;
  probe.type = ir_type_scalar(n->type.dtype);
  ir_error err;
  return ir_interp_eval_node(&probe, argv, out, &err);
}

/* Length of n's operand along n's axis attribute. */
static double axis_len(const ir_node *n) {
  return (double)n->args[0]->type.dims[n->attrs.axis];
}

/* The splat value of n from its operands' splat values; false when n has no closed form
 * (iota, one_hot) or the values do not give a splat (pad with a non-zero value). */
static bool fold_value(const ir_node *n, const double *v, double *out) {
  if (ir_op_is_elementwise(n->op)) return fold_elementwise(n, v, out);
  double in = ir_type_numel(&n->args[0]->type), res = ir_type_numel(&n->type);
  switch (n->op) {
  case IR_OP_RESHAPE:
  case IR_OP_BROADCAST:
  case IR_OP_TRANSPOSE:
  case IR_OP_SLICE:
  case IR_OP_GATHER:      *out = v[0]; return true;
  case IR_OP_PAD:         *out = v[0]; return v[0] == 0; /* pad adds zeros */
  case IR_OP_CONCAT:
    for (int i = 1; i < n->nargs; i++)
      if (memcmp(&v[i], &v[0], sizeof v[0]) != 0) return false;
    *out = v[0];
    return true;
  case IR_OP_REDUCE_SUM:  *out = v[0] * (res > 0 ? in / res : 0); return true;
  case IR_OP_REDUCE_MEAN:
  case IR_OP_REDUCE_MAX:  *out = v[0]; return in > 0;
  case IR_OP_LOGSUMEXP:   *out = v[0] + log(res > 0 ? in / res : 0); return in > 0;
  case IR_OP_MATMUL:
    *out = v[0] * v[1] * (double)n->args[0]->type.dims[n->args[0]->type.rank - 1];
    return true;
  case IR_OP_SOFTMAX:     *out = 1 / axis_len(n); return true;
  case IR_OP_LOG_SOFTMAX: *out = -log(axis_len(n)); return true;
  default:                return false;
  }
}

/* Whether v can be a constant of dtype dt (the const shape rule's demands). */
static bool representable(double v, ir_dtype dt) {
  if (ir_dtype_is_float(dt)) return true;
  if (!isfinite(v) || v != floor(v)) return false;
  return dt != IR_BOOL || v == 0 || v == 1;
}

/* fold-constants: op(splat a, splat b, ...) → splat op(a, b, ...) */
ir_node *simp_fold_constants(ir_func *f, ir_node *n) {
  if (n->nargs == 0) return NULL; /* const and iota are already as folded as they get */
  double stack[8], *vals = stack;
  if (n->nargs > 8) return NULL; /* a concat of more than 8 splats is not worth a buffer */
  for (int i = 0; i < n->nargs; i++)
    if (!simp_splat(n->args[i], &vals[i])) return NULL;
  double out;
  if (!fold_value(n, vals, &out) || !representable(out, n->type.dtype)) return NULL;
  return ir_emit_const(f, n->type, out);
}

/* const-splat: const [v, v, ..., v] → const v */
ir_node *simp_const_splat(ir_func *f, ir_node *n) {
  double v;
  if (n->op != IR_OP_CONST || n->attrs.nvalues == 1 || !simp_splat(n, &v)) return NULL;
  return ir_emit_const(f, n->type, v);
}

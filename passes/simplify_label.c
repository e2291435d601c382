/* Label identities for simplify: what a reduction of a one_hot comes to without building
 * the one_hot. The cross-entropy backward sums one_hot(y)·c over the classes, which is c for
 * every in-range label: one value a row instead of a row of depth values.
 *
 * Exact, out-of-range labels included: the one_hot row of such a label is all zeros (see
 * ir/interp.h), so its sum is 0·c, and the rewrite tests the range with compares and selects
 * instead of assuming it. */
#include "simplify.h"

#include <math.h>

/* x is one_hot(y), alone (scale 1) or times a splat constant c of x's shape: *oh and *c. */
static bool scaled_one_hot(const ir_node *x, const ir_node **oh, double *c) {
  if (x->op == IR_OP_ONE_HOT) {
    *oh = x;
    *c = 1;
    return true;
  }
  if (x->op != IR_OP_MUL) return false;
  for (int i = 0; i < 2; i++) {
    const ir_node *h = x->args[i];
    if (h->op == IR_OP_ONE_HOT && ir_shape_equal(&h->type, &x->type) &&
        simp_splat(x->args[1 - i], c)) {
      *oh = h;
      return true;
    }
  }
  return false;
}

/* reduce-one-hot: reduce_sum(one_hot(y)·c, axes=[last]) → select(0 <= y, select(y < depth,
 * c, 0·c), 0·c), per label; c finite (an infinite c times the zeros is NaN, which the select
 * would drop). The zero is 0·c, signed as the sum of the zero products is. */
ir_node *simp_reduce_one_hot(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_REDUCE_SUM || n->attrs.naxes != 1) return NULL;
  const ir_node *x = n->args[0], *oh;
  double c;
  int64_t last = x->type.rank - 1;
  if (n->attrs.axes[0] != last || !scaled_one_hot(x, &oh, &c) || !isfinite(c)) return NULL;
  int64_t depth = x->type.dims[last];
  if (depth < 1) return NULL;
  ir_node *y = oh->args[0];
  ir_type rows = y->type; /* the labels' shape, in the result's dtype */
  rows.dtype = n->type.dtype;
  ir_node *ge = ir_emit_binary(f, IR_OP_GE, y, ir_emit_const(f, y->type, 0));
  ir_node *lt = ir_emit_binary(f, IR_OP_LT, y, ir_emit_const(f, y->type, (double)depth));
  ir_node *zero = ir_emit_const(f, rows, 0.0 * c);
  ir_node *inner[3] = {lt, ir_emit_const(f, rows, c), zero};
  ir_node *in_hi = ir_emit(f, IR_OP_SELECT, inner, 3, NULL, NULL);
  ir_node *outer[3] = {ge, in_hi, zero};
  ir_node *v = ir_emit(f, IR_OP_SELECT, outer, 3, NULL, NULL);
  return ir_emit_reshape(f, v, &n->type); /* keepdims: the labels' shape plus a 1 */
}

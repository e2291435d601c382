/* The vector-Jacobian products: for every differentiable op, how the adjoint g of its
 * result becomes adjoints of its operands, written as IR (so the backward graph goes
 * through the same simplifier, fuser and code generator as the forward one).
 *
 * Notation in the comments: x, a, b are operands, y the op's result, g its adjoint.
 * Operands that were broadcast by a binary op get their adjoint summed back to their own
 * shape (ad_unbroadcast). The softmax family keeps its stable forms: nothing here calls
 * exp on anything but a value that is at most 0 (x - max, x - logsumexp). */
#include "ad.h"

#define X(i) (n->args[i])
#define C(like, v) ad_const_like(f, (like), (v))
#define UNB(v, i) ad_unbroadcast(f, (v), &X(i)->type)

/* ---- elementwise unary -------------------------------------------------------------- */

/* -g */
static void vjp_neg(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = ad_neg(f, g);
}
/* g * sign(x) (zero at 0, the subgradient PyTorch picks too) */
static void vjp_abs(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = ad_mul(f, g, ir_emit_unary(f, IR_OP_SIGN, X(0)));
}
/* 0: sign is flat wherever it is differentiable */
static void vjp_sign(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = C(X(0), 0);
}
/* g * y */
static void vjp_exp(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = ad_mul(f, g, n);
}
/* g / x */
static void vjp_log(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = ad_div(f, g, X(0));
}
/* g / (2 y) */
static void vjp_sqrt(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = ad_div(f, g, ad_mul(f, C(n, 2), n));
}
/* y = x^-1/2, dy/dx = -1/2 x^-3/2 = -1/2 y^3 */
static void vjp_rsqrt(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = ad_mul(f, g, ad_mul(f, C(n, -0.5), ad_mul(f, n, ad_mul(f, n, n))));
}
/* g * (1 - y^2) */
static void vjp_tanh(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = ad_mul(f, g, ad_sub(f, C(n, 1), ad_mul(f, n, n)));
}
/* g * y * (1 - y) */
static void vjp_sigmoid(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = ad_mul(f, g, ad_mul(f, n, ad_sub(f, C(n, 1), n)));
}
/* y > 0 ? g : 0, which is x > 0 (NaN included) read from the output, as PyTorch does: the
 * forward kernel then stores nothing for the backward pass but y, which the weight gradient
 * reads anyway, and is the same code as the forward of eval_loss and forward. */
static void vjp_relu(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = ad_where(f, ir_emit_binary(f, IR_OP_GT, n, C(n, 0)), g);
}
/* g cast back to the operand's (floating-point) dtype */
static void vjp_cast(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = ir_emit_cast(f, g, X(0)->type.dtype);
}

/* ---- elementwise binary and select ---------------------------------------------------- */

/* g, g */
static void vjp_add(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  if (want[0]) gr[0] = UNB(g, 0);
  if (want[1]) gr[1] = UNB(g, 1);
}
/* g, -g */
static void vjp_sub(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  if (want[0]) gr[0] = UNB(g, 0);
  if (want[1]) gr[1] = UNB(ad_neg(f, g), 1);
}
/* g b, g a */
static void vjp_mul(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  if (want[0]) gr[0] = UNB(ad_mul(f, g, X(1)), 0);
  if (want[1]) gr[1] = UNB(ad_mul(f, g, X(0)), 1);
}
/* g / b, -g y / b */
static void vjp_div(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  if (want[0]) gr[0] = UNB(ad_div(f, g, X(1)), 0);
  if (want[1]) gr[1] = UNB(ad_neg(f, ad_div(f, ad_mul(f, g, n), X(1))), 1);
}
/* g b a^(b-1), g y log(a) */
static void vjp_pow(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  if (want[0]) {
    ir_node *am1 = ir_emit_binary(f, IR_OP_POW, X(0), ad_sub(f, X(1), C(X(1), 1)));
    gr[0] = UNB(ad_mul(f, g, ad_mul(f, X(1), am1)), 0);
  }
  if (want[1]) gr[1] = UNB(ad_mul(f, g, ad_mul(f, n, ir_emit_unary(f, IR_OP_LOG, X(0)))), 1);
}
/* The adjoint goes to the operand that was picked; a tie goes to the first, as in the
 * interpreter's max (a >= b ? a : b). */
static void vjp_minmax(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr,
                       ir_opcode first_wins, ir_opcode second_wins) {
  if (want[0]) gr[0] = UNB(ad_where(f, ir_emit_binary(f, first_wins, X(0), X(1)), g), 0);
  if (want[1]) gr[1] = UNB(ad_where(f, ir_emit_binary(f, second_wins, X(0), X(1)), g), 1);
}
static void vjp_max(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  vjp_minmax(f, n, g, want, gr, IR_OP_GE, IR_OP_LT);
}
static void vjp_min(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  vjp_minmax(f, n, g, want, gr, IR_OP_LE, IR_OP_GT);
}
/* c ? g : 0, c ? 0 : g (the condition is bool, never differentiated) */
static void vjp_select(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  ir_node *c = ir_emit_broadcast(f, X(0), &g->type), *zero = C(g, 0);
  if (want[1]) gr[1] = UNB(ir_emit(f, IR_OP_SELECT, (ir_node *[]){c, g, zero}, 3, NULL, NULL), 1);
  if (want[2]) gr[2] = UNB(ir_emit(f, IR_OP_SELECT, (ir_node *[]){c, zero, g}, 3, NULL, NULL), 2);
}

/* ---- reductions -------------------------------------------------------------------------- */

#define EXPAND(v) ad_expand_reduced(f, (v), X(0), n->attrs.axes, n->attrs.naxes)

/* g broadcast back over the reduced axes */
static void vjp_reduce_sum(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = EXPAND(g);
}
/* g broadcast back, divided by the number of elements reduced */
static void vjp_reduce_mean(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  double count = (double)(ir_type_numel(&X(0)->type) / (ir_type_numel(&n->type) ? ir_type_numel(&n->type) : 1));
  ir_node *e = EXPAND(g);
  gr[0] = ad_div(f, e, C(e, count));
}
/* g to the elements equal to the maximum (mask = eq(x, y)), shared evenly among ties */
static void vjp_reduce_max(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  ir_node *mask = ir_emit_cast(f, ir_emit_binary(f, IR_OP_EQ, X(0), EXPAND(n)), X(0)->type.dtype);
  ir_node *ties = ir_emit_reduce(f, IR_OP_REDUCE_SUM, mask, n->attrs.axes, n->attrs.naxes, false);
  gr[0] = ad_div(f, ad_mul(f, mask, EXPAND(g)), EXPAND(ties));
}
/* g * softmax(x) over the axes, computed as exp(x - y): never above 1 */
static void vjp_logsumexp(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  ir_node *p = ir_emit_unary(f, IR_OP_EXP, ad_sub(f, X(0), EXPAND(n)));
  gr[0] = ad_mul(f, EXPAND(g), p);
}

/* ---- contraction --------------------------------------------------------------------------- */

/* g @ b^T, a^T @ g, each summed over the batch axes its operand was broadcast along */
static void vjp_matmul(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  if (want[0])
    gr[0] = UNB(ir_emit(f, IR_OP_MATMUL, (ir_node *[]){g, ad_swap_last2(f, X(1))}, 2, NULL, NULL), 0);
  if (want[1])
    gr[1] = UNB(ir_emit(f, IR_OP_MATMUL, (ir_node *[]){ad_swap_last2(f, X(0)), g}, 2, NULL, NULL), 1);
}

/* ---- layout ----------------------------------------------------------------------------------- */

/* g reshaped back */
static void vjp_reshape(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = ir_emit_reshape(f, g, &X(0)->type);
}
/* g transposed by the inverse permutation */
static void vjp_transpose(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  int64_t inv[IR_MAX_RANK];
  for (int i = 0; i < n->attrs.naxes; i++) inv[n->attrs.axes[i]] = i;
  gr[0] = ad_transpose(f, g, inv);
}
/* g summed over the broadcast axes */
static void vjp_broadcast(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  gr[0] = UNB(g, 0);
}
/* g padded with zeros where the slice cut */
static void vjp_slice(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  ir_attrs pad = {.nbounds = n->attrs.nbounds};
  for (int i = 0; i < pad.nbounds; i++) {
    pad.lo[i] = n->attrs.lo[i];
    pad.hi[i] = X(0)->type.dims[i] - n->attrs.hi[i];
  }
  gr[0] = ir_emit(f, IR_OP_PAD, &g, 1, &pad, NULL);
}
/* the part of g that is not padding */
static void vjp_pad(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  ir_attrs cut = {.nbounds = n->attrs.nbounds};
  for (int i = 0; i < cut.nbounds; i++) {
    cut.lo[i] = n->attrs.lo[i];
    cut.hi[i] = n->attrs.lo[i] + X(0)->type.dims[i];
  }
  gr[0] = ir_emit(f, IR_OP_SLICE, &g, 1, &cut, NULL);
}
/* each operand's slice of g along the axis */
static void vjp_concat(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  int64_t axis = n->attrs.axis, at = 0;
  for (int k = 0; k < n->nargs; k++) {
    const ir_type *t = &X(k)->type;
    if (want[k]) {
      ir_attrs cut = {.nbounds = t->rank};
      for (int i = 0; i < t->rank; i++) cut.hi[i] = g->type.dims[i];
      cut.lo[axis] = at;
      cut.hi[axis] = at + t->dims[axis];
      gr[k] = ir_emit(f, IR_OP_SLICE, &g, 1, &cut, NULL);
    }
    at += t->dims[axis];
  }
}

/* ---- labels -------------------------------------------------------------------------------- */

/* x [.., n, ..] (axis A), idx and y [.., ..]: scatter g to the picked positions as
 * one_hot(idx) * g[..., 1] ([.., .., n]), then move the new last axis back to A. */
static void vjp_gather(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  const ir_type *x = &X(0)->type, *idx = &X(1)->type;
  int64_t axis = n->attrs.axis;
  ir_type oh_t = *idx, col_t = *idx;
  oh_t.dtype = col_t.dtype = x->dtype;
  oh_t.dims[oh_t.rank++] = x->dims[axis];
  col_t.dims[col_t.rank++] = 1;
  ir_node *oh = ir_emit(f, IR_OP_ONE_HOT, (ir_node *[]){X(1)}, 1, NULL, &oh_t);
  ir_node *scattered = ad_mul(f, oh, ir_emit_reshape(f, g, &col_t));
  int64_t perm[IR_MAX_RANK];
  for (int i = 0; i < x->rank; i++) perm[i] = i < axis ? i : i == axis ? x->rank - 1 : i - 1;
  gr[0] = ad_transpose(f, scattered, perm);
}

/* ---- softmax family -------------------------------------------------------------------------- */

/* y * (g - sum(g * y)) along the axis: from the output, no exp at all */
static void vjp_softmax(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  int64_t axis = n->attrs.axis;
  ir_node *s = ir_emit_reduce(f, IR_OP_REDUCE_SUM, ad_mul(f, g, n), &axis, 1, true);
  gr[0] = ad_mul(f, n, ad_sub(f, g, s));
}
/* g - softmax(x) * sum(g) along the axis, with softmax(x) = exp(y) taken from the output:
 * y = x - logsumexp(x) <= 0, so exp(y) <= 1 is as stable as the softmax op, and it is an
 * elementwise op that fuses into the gradient's kernel instead of a second softmax. */
static void vjp_log_softmax(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **gr) {
  int64_t axis = n->attrs.axis;
  ir_node *p = ir_emit_unary(f, IR_OP_EXP, n);
  ir_node *s = ir_emit_reduce(f, IR_OP_REDUCE_SUM, g, &axis, 1, true);
  gr[0] = ad_sub(f, g, ad_mul(f, p, s));
}

/* ---- the table ------------------------------------------------------------------------------- */

/* Exactly the ops with IR_F_DIFF have a rule; the autodiff test walks ir_ops to hold us
 * to it, and the assert keeps the table's length equal to the op count. */
static const vjp_rule vjp_rules[] = {
    [IR_OP_NEG] = vjp_neg,
    [IR_OP_ABS] = vjp_abs,
    [IR_OP_SIGN] = vjp_sign,
    [IR_OP_EXP] = vjp_exp,
    [IR_OP_LOG] = vjp_log,
    [IR_OP_SQRT] = vjp_sqrt,
    [IR_OP_RSQRT] = vjp_rsqrt,
    [IR_OP_TANH] = vjp_tanh,
    [IR_OP_SIGMOID] = vjp_sigmoid,
    [IR_OP_RELU] = vjp_relu,
    [IR_OP_CAST] = vjp_cast,
    [IR_OP_ADD] = vjp_add,
    [IR_OP_SUB] = vjp_sub,
    [IR_OP_MUL] = vjp_mul,
    [IR_OP_DIV] = vjp_div,
    [IR_OP_POW] = vjp_pow,
    [IR_OP_MAX] = vjp_max,
    [IR_OP_MIN] = vjp_min,
    [IR_OP_SELECT] = vjp_select,
    [IR_OP_REDUCE_SUM] = vjp_reduce_sum,
    [IR_OP_REDUCE_MEAN] = vjp_reduce_mean,
    [IR_OP_REDUCE_MAX] = vjp_reduce_max,
    [IR_OP_MATMUL] = vjp_matmul,
    [IR_OP_RESHAPE] = vjp_reshape,
    [IR_OP_TRANSPOSE] = vjp_transpose,
    [IR_OP_BROADCAST] = vjp_broadcast,
    [IR_OP_SLICE] = vjp_slice,
    [IR_OP_PAD] = vjp_pad,
    [IR_OP_CONCAT] = vjp_concat,
    [IR_OP_GATHER] = vjp_gather,
    [IR_OP_SOFTMAX] = vjp_softmax,
    [IR_OP_LOG_SOFTMAX] = vjp_log_softmax,
    [IR_OP_LOGSUMEXP] = vjp_logsumexp,
};
_Static_assert(sizeof vjp_rules / sizeof vjp_rules[0] == IR_OP_COUNT,
               "vjp_rules and ops.def disagree: give the new op a VJP (or none, if it is not IR_F_DIFF)");

const vjp_rule *ad_vjp_rules(void) { return vjp_rules; }

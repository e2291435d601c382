/* The Jacobian-vector products: for every differentiable op, the tangent of its result
 * from the tangents of its operands, written as IR. A NULL tangent is zero; rules only
 * build the terms that are not.
 *
 * Notation: x, a, b operands, y the result, t0, t1 the operands' tangents. Linear ops
 * (layout, sums, gather) simply apply themselves to the tangent (ad_reapply). */
#include "ad.h"

#define X(i) (n->args[i])
#define C(like, v) ad_const_like(f, (like), (v))
#define T0 (t[0])

/* Sum of two optional terms (NULL = zero). */
static ir_node *plus(ir_func *f, ir_node *sum, ir_node *term) {
  return !sum ? term : !term ? sum : ad_add(f, sum, term);
}
/* The tangent of operand i, with an explicit zero where it has none. */
static ir_node *tan_or_zero(ir_func *f, ir_node *n, ir_node *const *t, int i) {
  return t[i] ? t[i] : C(X(i), 0);
}
/* A term of an operand's shape brought to the result's. */
static ir_node *fit(ir_func *f, ir_node *n, ir_node *v) { return ir_emit_broadcast(f, v, &n->type); }

/* ---- elementwise unary --------------------------------------------------------------- */

static ir_node *jvp_neg(ir_func *f, ir_node *n, ir_node *const *t) { return ad_neg(f, T0); }
static ir_node *jvp_abs(ir_func *f, ir_node *n, ir_node *const *t) {
  return ad_mul(f, T0, ir_emit_unary(f, IR_OP_SIGN, X(0)));
}
static ir_node *jvp_sign(ir_func *f, ir_node *n, ir_node *const *t) { return C(n, 0); }
static ir_node *jvp_exp(ir_func *f, ir_node *n, ir_node *const *t) { return ad_mul(f, T0, n); }
static ir_node *jvp_log(ir_func *f, ir_node *n, ir_node *const *t) { return ad_div(f, T0, X(0)); }
/* t / (2 y) */
static ir_node *jvp_sqrt(ir_func *f, ir_node *n, ir_node *const *t) {
  return ad_div(f, T0, ad_mul(f, C(n, 2), n));
}
/* -1/2 y^3 t */
static ir_node *jvp_rsqrt(ir_func *f, ir_node *n, ir_node *const *t) {
  return ad_mul(f, T0, ad_mul(f, C(n, -0.5), ad_mul(f, n, ad_mul(f, n, n))));
}
static ir_node *jvp_tanh(ir_func *f, ir_node *n, ir_node *const *t) {
  return ad_mul(f, T0, ad_sub(f, C(n, 1), ad_mul(f, n, n)));
}
static ir_node *jvp_sigmoid(ir_func *f, ir_node *n, ir_node *const *t) {
  return ad_mul(f, T0, ad_mul(f, n, ad_sub(f, C(n, 1), n)));
}
static ir_node *jvp_relu(ir_func *f, ir_node *n, ir_node *const *t) {
  return ad_where(f, ir_emit_binary(f, IR_OP_GT, X(0), C(X(0), 0)), T0);
}
/* Only called for a floating-point result: an integer result has no tangent. */
static ir_node *jvp_cast(ir_func *f, ir_node *n, ir_node *const *t) {
  return ir_emit_cast(f, T0, n->type.dtype);
}

/* ---- elementwise binary and select ------------------------------------------------------ */

static ir_node *jvp_add(ir_func *f, ir_node *n, ir_node *const *t) {
  return fit(f, n, plus(f, t[0], t[1]));
}
static ir_node *jvp_sub(ir_func *f, ir_node *n, ir_node *const *t) {
  return fit(f, n, plus(f, t[0], t[1] ? ad_neg(f, t[1]) : NULL));
}
/* t0 b + a t1 */
static ir_node *jvp_mul(ir_func *f, ir_node *n, ir_node *const *t) {
  return fit(f, n, plus(f, t[0] ? ad_mul(f, t[0], X(1)) : NULL, t[1] ? ad_mul(f, X(0), t[1]) : NULL));
}
/* t0 / b - t1 y / b */
static ir_node *jvp_div(ir_func *f, ir_node *n, ir_node *const *t) {
  ir_node *d0 = t[0] ? ad_div(f, t[0], X(1)) : NULL;
  ir_node *d1 = t[1] ? ad_neg(f, ad_div(f, ad_mul(f, t[1], n), X(1))) : NULL;
  return fit(f, n, plus(f, d0, d1));
}
/* t0 b a^(b-1) + t1 y log(a) */
static ir_node *jvp_pow(ir_func *f, ir_node *n, ir_node *const *t) {
  ir_node *d0 = NULL, *d1 = NULL;
  if (t[0]) {
    ir_node *am1 = ir_emit_binary(f, IR_OP_POW, X(0), ad_sub(f, X(1), C(X(1), 1)));
    d0 = ad_mul(f, t[0], ad_mul(f, X(1), am1));
  }
  if (t[1]) d1 = ad_mul(f, t[1], ad_mul(f, n, ir_emit_unary(f, IR_OP_LOG, X(0))));
  return fit(f, n, plus(f, d0, d1));
}
/* The tangent of the operand that was picked (ties: the first, as in vjp.c). */
static ir_node *pick(ir_func *f, ir_node *n, ir_node *const *t, ir_opcode first_wins) {
  ir_node *c = ir_emit_binary(f, first_wins, X(0), X(1));
  ir_node *args[3] = {c, tan_or_zero(f, n, t, 0), tan_or_zero(f, n, t, 1)};
  return fit(f, n, ir_emit(f, IR_OP_SELECT, args, 3, NULL, NULL));
}
static ir_node *jvp_max(ir_func *f, ir_node *n, ir_node *const *t) { return pick(f, n, t, IR_OP_GE); }
static ir_node *jvp_min(ir_func *f, ir_node *n, ir_node *const *t) { return pick(f, n, t, IR_OP_LE); }
static ir_node *jvp_select(ir_func *f, ir_node *n, ir_node *const *t) {
  ir_node *args[3] = {X(0), tan_or_zero(f, n, t, 1), tan_or_zero(f, n, t, 2)};
  return fit(f, n, ir_emit(f, IR_OP_SELECT, args, 3, NULL, NULL));
}

/* ---- linear ops: the op applied to the tangent ------------------------------------------ */

static ir_node *jvp_linear(ir_func *f, ir_node *n, ir_node *const *t) {
  ir_node *fixed[8], **args = fixed;
  if (n->nargs > 8) args = ir_alloc(f->module, (size_t)n->nargs * sizeof *args);
  for (int i = 0; i < n->nargs; i++) args[i] = tan_or_zero(f, n, t, i);
  return ad_reapply(f, n, args);
}
/* gather(t0, idx): the index operand is integer and keeps its value */
static ir_node *jvp_gather(ir_func *f, ir_node *n, ir_node *const *t) {
  return ad_reapply(f, n, (ir_node *[]){T0, X(1)});
}

/* ---- reductions ------------------------------------------------------------------------------ */

#define EXPAND(v) ad_expand_reduced(f, (v), X(0), n->attrs.axes, n->attrs.naxes)
#define SUM(v) ir_emit_reduce(f, IR_OP_REDUCE_SUM, (v), n->attrs.axes, n->attrs.naxes, n->attrs.keepdims)

/* the tangent averaged over the maxima (ties share, as in the VJP) */
static ir_node *jvp_reduce_max(ir_func *f, ir_node *n, ir_node *const *t) {
  ir_node *mask = ir_emit_cast(f, ir_emit_binary(f, IR_OP_EQ, X(0), EXPAND(n)), X(0)->type.dtype);
  return ad_div(f, SUM(ad_mul(f, mask, T0)), SUM(mask));
}
/* sum(t * exp(x - y)) over the axes */
static ir_node *jvp_logsumexp(ir_func *f, ir_node *n, ir_node *const *t) {
  ir_node *p = ir_emit_unary(f, IR_OP_EXP, ad_sub(f, X(0), EXPAND(n)));
  return SUM(ad_mul(f, T0, p));
}

/* ---- contraction --------------------------------------------------------------------------- */

/* t0 @ b + a @ t1 */
static ir_node *jvp_matmul(ir_func *f, ir_node *n, ir_node *const *t) {
  ir_node *d0 = t[0] ? ir_emit(f, IR_OP_MATMUL, (ir_node *[]){t[0], X(1)}, 2, NULL, NULL) : NULL;
  ir_node *d1 = t[1] ? ir_emit(f, IR_OP_MATMUL, (ir_node *[]){X(0), t[1]}, 2, NULL, NULL) : NULL;
  return plus(f, d0, d1);
}

/* ---- softmax family -------------------------------------------------------------------------- */

/* y * (t - sum(t * y)) along the axis */
static ir_node *jvp_softmax(ir_func *f, ir_node *n, ir_node *const *t) {
  int64_t axis = n->attrs.axis;
  ir_node *s = ir_emit_reduce(f, IR_OP_REDUCE_SUM, ad_mul(f, T0, n), &axis, 1, true);
  return ad_mul(f, n, ad_sub(f, T0, s));
}
/* t - sum(softmax(x) * t) along the axis, softmax(x) = exp(y) from the output (y <= 0) */
static ir_node *jvp_log_softmax(ir_func *f, ir_node *n, ir_node *const *t) {
  int64_t axis = n->attrs.axis;
  ir_node *p = ir_emit_unary(f, IR_OP_EXP, n);
  return ad_sub(f, T0, ir_emit_reduce(f, IR_OP_REDUCE_SUM, ad_mul(f, p, T0), &axis, 1, true));
}

/* ---- the table ------------------------------------------------------------------------------- */

/* Exactly the ops with IR_F_DIFF have a rule (checked by the autodiff test). */
static const jvp_rule jvp_rules[] = {
    [IR_OP_NEG] = jvp_neg,
    [IR_OP_ABS] = jvp_abs,
    [IR_OP_SIGN] = jvp_sign,
    [IR_OP_EXP] = jvp_exp,
    [IR_OP_LOG] = jvp_log,
    [IR_OP_SQRT] = jvp_sqrt,
    [IR_OP_RSQRT] = jvp_rsqrt,
    [IR_OP_TANH] = jvp_tanh,
    [IR_OP_SIGMOID] = jvp_sigmoid,
    [IR_OP_RELU] = jvp_relu,
    [IR_OP_CAST] = jvp_cast,
    [IR_OP_ADD] = jvp_add,
    [IR_OP_SUB] = jvp_sub,
    [IR_OP_MUL] = jvp_mul,
    [IR_OP_DIV] = jvp_div,
    [IR_OP_POW] = jvp_pow,
    [IR_OP_MAX] = jvp_max,
    [IR_OP_MIN] = jvp_min,
    [IR_OP_SELECT] = jvp_select,
    [IR_OP_REDUCE_SUM] = jvp_linear,
    [IR_OP_REDUCE_MEAN] = jvp_linear,
    [IR_OP_REDUCE_MAX] = jvp_reduce_max,
    [IR_OP_MATMUL] = jvp_matmul,
    [IR_OP_RESHAPE] = jvp_linear,
    [IR_OP_TRANSPOSE] = jvp_linear,
    [IR_OP_BROADCAST] = jvp_linear,
    [IR_OP_SLICE] = jvp_linear,
    [IR_OP_PAD] = jvp_linear,
    [IR_OP_CONCAT] = jvp_linear,
    [IR_OP_GATHER] = jvp_gather,
    [IR_OP_SOFTMAX] = jvp_softmax,
    [IR_OP_LOG_SOFTMAX] = jvp_log_softmax,
    [IR_OP_LOGSUMEXP] = jvp_logsumexp,
};
_Static_assert(sizeof jvp_rules / sizeof jvp_rules[0] == IR_OP_COUNT,
               "jvp_rules and ops.def disagree: give the new op a JVP (or none, if it is not IR_F_DIFF)");

const jvp_rule *ad_jvp_rules(void) { return jvp_rules; }

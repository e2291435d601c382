/* Layout and reduction identities for simplify: ops that move elements without changing
 * them collapse into fewer moves, and a reduction of a broadcast works on the values
 * before they were replicated (a sum becomes a scale, a mean or max the value itself).
 * All of these are exact. */
#include "simplify.h"

#include <string.h>

/* layout-noop: reshape/broadcast to the same shape, transpose by the identity, cast to
 * the same dtype, a slice of everything, padding by nothing, concat of one → the operand */
ir_node *simp_layout_noop(ir_func *f, ir_node *n) {
  ir_node *x = n->nargs ? n->args[0] : NULL;
  switch (n->op) {
  case IR_OP_RESHAPE:
  case IR_OP_BROADCAST: return ir_shape_equal(&x->type, &n->type) ? x : NULL;
  case IR_OP_CAST:      return x->type.dtype == n->type.dtype ? x : NULL;
  case IR_OP_CONCAT:    return n->nargs == 1 ? x : NULL;
  case IR_OP_TRANSPOSE:
    for (int i = 0; i < n->attrs.naxes; i++)
      if (n->attrs.axes[i] != i) return NULL;
    return x;
  case IR_OP_SLICE:
  case IR_OP_PAD:
    for (int i = 0; i < n->attrs.nbounds; i++) {
      bool whole = n->op == IR_OP_SLICE
                       ? n->attrs.lo[i] == 0 && n->attrs.hi[i] == x->type.dims[i]
                       : n->attrs.lo[i] == 0 && n->attrs.hi[i] == 0;
      if (!whole) return NULL;
    }
    return x;
  default: return NULL;
  }
}

/* reshape-reshape: reshape(reshape(x)) → reshape(x) */
ir_node *simp_reshape_reshape(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_RESHAPE || n->args[0]->op != IR_OP_RESHAPE) return NULL;
  return ir_emit_reshape(f, n->args[0]->args[0], &n->type);
}

/* broadcast-is-reshape: a broadcast that adds no elements ([3] → [1,3]) → reshape */
ir_node *simp_broadcast_is_reshape(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_BROADCAST || ir_type_numel(&n->args[0]->type) != ir_type_numel(&n->type))
    return NULL;
  return ir_emit_reshape(f, n->args[0], &n->type);
}

/* transpose-is-reshape: a transpose that only moves size-1 axes ([1,n] → [n,1]) keeps
 * the elements in order → reshape */
ir_node *simp_transpose_is_reshape(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_TRANSPOSE) return NULL;
  const ir_type *x = &n->args[0]->type;
  int64_t last = -1;
  for (int i = 0; i < n->attrs.naxes; i++) {
    int64_t p = n->attrs.axes[i];
    if (x->dims[p] == 1) continue;
    if (p < last) return NULL;
    last = p;
  }
  return ir_shape_equal(x, &n->type) ? NULL : ir_emit_reshape(f, n->args[0], &n->type);
}

/* transpose-transpose: transpose(transpose(x, p), q) → transpose(x, p∘q), or x when the
 * composition is the identity (result axis i is x's axis p[q[i]]) */
ir_node *simp_transpose_transpose(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_TRANSPOSE || n->args[0]->op != IR_OP_TRANSPOSE) return NULL;
  const ir_node *inner = n->args[0];
  ir_node *x = inner->args[0];
  ir_attrs perm = {.naxes = n->attrs.naxes};
  bool identity = true;
  for (int i = 0; i < perm.naxes; i++) {
    perm.axes[i] = inner->attrs.axes[n->attrs.axes[i]];
    identity = identity && perm.axes[i] == i;
  }
  return identity ? x : ir_emit(f, IR_OP_TRANSPOSE, &x, 1, &perm, NULL);
}

/* broadcast-broadcast: broadcast(broadcast(x)) → broadcast(x) (NumPy broadcasting composes) */
ir_node *simp_broadcast_broadcast(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_BROADCAST || n->args[0]->op != IR_OP_BROADCAST) return NULL;
  ir_node *x = n->args[0]->args[0];
  return ir_broadcasts_to(&x->type, &n->type) ? ir_emit_broadcast(f, x, &n->type) : NULL;
}

/* A shape without its leading 1s: NumPy broadcasting cannot tell such shapes apart. */
static int strip_leading_ones(const ir_type *t, const int64_t **dims) {
  int i = 0;
  while (i < t->rank && t->dims[i] == 1) i++;
  *dims = t->dims + i;
  return t->rank - i;
}

/* broadcast-reshape: broadcast(reshape(x)) → broadcast(x) when the reshape only adds or
 * drops leading 1s ([1,3] → [3] → [4,3] is [1,3] → [4,3]) */
ir_node *simp_broadcast_reshape(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_BROADCAST || n->args[0]->op != IR_OP_RESHAPE) return NULL;
  ir_node *x = n->args[0]->args[0];
  const int64_t *a, *b;
  int ra = strip_leading_ones(&x->type, &a), rb = strip_leading_ones(&n->args[0]->type, &b);
  if (ra != rb || memcmp(a, b, (size_t)ra * sizeof *a) != 0) return NULL;
  if (!ir_broadcasts_to(&x->type, &n->type)) return NULL;
  return ir_emit_broadcast(f, x, &n->type);
}

static bool is_reduction(ir_opcode op) {
  return op == IR_OP_REDUCE_SUM || op == IR_OP_REDUCE_MEAN || op == IR_OP_REDUCE_MAX ||
         op == IR_OP_LOGSUMEXP;
}

/* reduce-is-reshape: a reduction over axes of size 1 (as many elements out as in) → reshape */
ir_node *simp_reduce_is_reshape(ir_func *f, ir_node *n) {
  if (!is_reduction(n->op) || ir_type_numel(&n->args[0]->type) != ir_type_numel(&n->type))
    return NULL;
  return ir_emit_reshape(f, n->args[0], &n->type);
}

/* reduce-broadcast: sum/mean/max over axes of broadcast(x) → the same reduction over the
 * axes x really has, then reshape and broadcast to the result; a sum is scaled by the
 * number of copies the broadcast made along the reduced axes, a mean or max is not.
 *   reduce_sum(broadcast(s : f32[]) : f32[10,1], axes=[0,1]) → s·10
 *   reduce_mean(broadcast(x : f32[1,5]) : f32[4,5], axes=[0]) → reshape(x) : f32[5] */
ir_node *simp_reduce_broadcast(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_REDUCE_SUM && n->op != IR_OP_REDUCE_MEAN && n->op != IR_OP_REDUCE_MAX)
    return NULL;
  if (n->args[0]->op != IR_OP_BROADCAST) return NULL;
  const ir_node *b = n->args[0];
  ir_node *x = b->args[0];
  const ir_type *S = &b->type, *X = &x->type;
  int lead = S->rank - X->rank; /* axes of S that x lacks: x aligns right */
  bool reduced[IR_MAX_RANK] = {false};
  for (int i = 0; i < n->attrs.naxes; i++) reduced[n->attrs.axes[i]] = true;

  /* A reduced axis of S is either one the broadcast created (x lacks it or has size 1
   * there: copies) or one of x's own (a real reduction, done on x). */
  int64_t xaxes[IR_MAX_RANK];
  int nx = 0;
  double copies = 1;
  for (int a = 0; a < S->rank; a++) {
    if (!reduced[a]) continue;
    int j = a - lead;
    if (j < 0 || X->dims[j] == 1) copies *= (double)S->dims[a];
    else xaxes[nx++] = j;
  }
  ir_node *y = nx ? ir_emit_reduce(f, n->op, x, xaxes, nx, true) : x; /* x's rank kept */
  if (n->op == IR_OP_REDUCE_SUM && copies != 1)
    y = ir_emit_binary(f, IR_OP_MUL, y, ir_emit_const(f, y->type, copies));

  /* y has x's rank with the reduced axes at 1; u lists, in the result's axis order, y's
   * size on each surviving axis of S (1 where x lacked it): the same elements in the same
   * order as y, shaped so that a broadcast gives the result. */
  ir_type u = ir_type_scalar(n->type.dtype);
  for (int a = 0; a < S->rank; a++) {
    int j = a - lead;
    if (reduced[a]) {
      if (n->attrs.keepdims) u.dims[u.rank++] = 1;
    } else {
      u.dims[u.rank++] = j >= 0 ? y->type.dims[j] : 1;
    }
  }
  return ir_emit_broadcast(f, ir_emit_reshape(f, y, &u), &n->type);
}

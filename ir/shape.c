/* Shape rules: the result type of every op from its operands and attributes.
 *
 * One rule per op, in a table indexed by op. A rule checks what it reads and explains a
 * failure in the user's terms (both shapes for a broadcast, both inner dimensions for a
 * matmul), because these messages reach the model author through the frontend. */
#include "ir.h"

#include <math.h>
#include <string.h>

typedef bool (*shape_rule)(const ir_node *n, ir_type *out, ir_error *err);

#define OPNAME(n) (ir_ops[(n)->op].name)

static const char *tstr(const ir_type *t, char *buf) { return ir_type_str(t, buf, IR_TYPE_STR_MAX); }
static const char *sstr(const ir_type *t, char *buf) { return ir_shape_str(t, buf, IR_TYPE_STR_MAX); }

static bool fail(const ir_node *n, ir_error *err, const char *fmt, const char *a, const char *b,
                 const char *c) {
  char msg[400];
  snprintf(msg, sizeof msg, fmt, a, b, c);
  ir_error_set(err, n->loc, "'%s': %s", OPNAME(n), msg);
  return false;
}

/* Operand dtype constraints shared by the elementwise rules. */
static bool check_dtype(const ir_node *n, const ir_node *x, ir_error *err) {
  unsigned flags = ir_ops[n->op].flags;
  if ((flags & IR_F_FLOAT) && !ir_dtype_is_float(x->type.dtype))
    return fail(n, err, "needs a floating-point operand, got %s", ir_dtype_name(x->type.dtype), "", "");
  return true;
}

static bool check_numeric(const ir_node *n, const ir_node *x, ir_error *err) {
  if (x->type.dtype == IR_BOOL)
    return fail(n, err, "needs a numeric operand, got bool", "", "", "");
  return check_dtype(n, x, err);
}

static bool same_dtype(const ir_node *n, const ir_node *a, const ir_node *b, ir_error *err) {
  if (a->type.dtype == b->type.dtype) return true;
  char sa[IR_TYPE_STR_MAX], sb[IR_TYPE_STR_MAX];
  return fail(n, err, "operand types differ: %s and %s", tstr(&a->type, sa), tstr(&b->type, sb), "");
}

static bool broadcast2(const ir_node *n, const ir_type *a, const ir_type *b, ir_type *out,
                       ir_error *err) {
  if (ir_broadcast_shapes(a, b, out)) return true;
  char sa[IR_TYPE_STR_MAX], sb[IR_TYPE_STR_MAX];
  return fail(n, err, "shapes %s and %s do not broadcast", sstr(a, sa), sstr(b, sb), "");
}

static bool check_axis(const ir_node *n, int64_t axis, int rank, ir_error *err) {
  if (axis >= 0 && axis < rank) return true;
  char a[32], r[32];
  snprintf(a, sizeof a, "%lld", (long long)axis);
  snprintf(r, sizeof r, "%d", rank);
  return fail(n, err, "axis %s is out of range for rank %s", a, r, "");
}

/* ---- rules ------------------------------------------------------------------------- */

static bool rule_const(const ir_node *n, ir_type *out, ir_error *err) {
  int64_t count = ir_type_numel(&n->type), nv = n->attrs.nvalues;
  if (nv != 1 && nv != count) {
    char a[32], b[32];
    snprintf(a, sizeof a, "%lld", (long long)nv);
    snprintf(b, sizeof b, "%lld", (long long)count);
    return fail(n, err, "%s values for %s elements (give one value or all of them)", a, b, "");
  }
  if (!n->attrs.values) return fail(n, err, "has no value", "", "", "");
  for (int64_t i = 0; i < nv; i++) {
    double v = n->attrs.values[i];
    if (!ir_dtype_is_float(n->type.dtype) && (v != floor(v) || !isfinite(v)))
      return fail(n, err, "value is not an integer, but the type is %s",
                  ir_dtype_name(n->type.dtype), "", "");
    if (n->type.dtype == IR_BOOL && v != 0 && v != 1)
      return fail(n, err, "a bool value must be 0 or 1", "", "", "");
  }
  *out = n->type;
  return true;
}

static bool rule_iota(const ir_node *n, ir_type *out, ir_error *err) {
  if (n->type.dtype == IR_BOOL) return fail(n, err, "cannot count in bool", "", "", "");
  if (!check_axis(n, n->attrs.axis, n->type.rank, err)) return false;
  *out = n->type;
  return true;
}

static bool rule_unary(const ir_node *n, ir_type *out, ir_error *err) {
  if (!check_numeric(n, n->args[0], err)) return false;
  *out = n->args[0]->type;
  return true;
}

static bool rule_cast(const ir_node *n, ir_type *out, ir_error *err) {
  if (!ir_shape_equal(&n->type, &n->args[0]->type)) {
    char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
    return fail(n, err, "cannot change the shape (%s to %s); use reshape",
                sstr(&n->args[0]->type, a), sstr(&n->type, b), "");
  }
  *out = n->type;
  return true;
}

static bool rule_binary(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_node *a = n->args[0], *b = n->args[1];
  if (!same_dtype(n, a, b, err) || !check_numeric(n, a, err)) return false;
  if (!broadcast2(n, &a->type, &b->type, out, err)) return false;
  out->dtype = a->type.dtype;
  return true;
}

static bool rule_compare(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_node *a = n->args[0], *b = n->args[1];
  if (!same_dtype(n, a, b, err)) return false;
  if (!broadcast2(n, &a->type, &b->type, out, err)) return false;
  out->dtype = IR_BOOL;
  return true;
}

static bool rule_select(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_node *c = n->args[0], *a = n->args[1], *b = n->args[2];
  if (c->type.dtype != IR_BOOL)
    return fail(n, err, "condition must be bool, got %s", ir_dtype_name(c->type.dtype), "", "");
  if (!same_dtype(n, a, b, err)) return false;
  ir_type ab;
  if (!broadcast2(n, &a->type, &b->type, &ab, err)) return false;
  if (!broadcast2(n, &c->type, &ab, out, err)) return false;
  out->dtype = a->type.dtype;
  return true;
}

static bool rule_reduce(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_type *x = &n->args[0]->type;
  if (!check_numeric(n, n->args[0], err)) return false;
  if (n->attrs.naxes < 1 || n->attrs.naxes > x->rank)
    return fail(n, err, "needs between one axis and one per dimension of its operand", "", "", "");
  bool reduced[IR_MAX_RANK] = {false};
  for (int i = 0; i < n->attrs.naxes; i++) {
    int64_t ax = n->attrs.axes[i];
    if (!check_axis(n, ax, x->rank, err)) return false;
    if (reduced[ax]) return fail(n, err, "axis listed twice", "", "", "");
    reduced[ax] = true;
  }
  out->dtype = x->dtype;
  out->rank = 0;
  for (int i = 0; i < x->rank; i++) {
    if (!reduced[i]) out->dims[out->rank++] = x->dims[i];
    else if (n->attrs.keepdims) out->dims[out->rank++] = 1;
  }
  return true;
}

static bool rule_matmul(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_type *a = &n->args[0]->type, *b = &n->args[1]->type;
  if (!same_dtype(n, n->args[0], n->args[1], err) || !check_numeric(n, n->args[0], err))
    return false;
  char sa[IR_TYPE_STR_MAX], sb[IR_TYPE_STR_MAX];
  if (a->rank < 2 || b->rank < 2)
    return fail(n, err, "operands must have rank 2 or more, got %s and %s", sstr(a, sa), sstr(b, sb), "");
  int64_t ka = a->dims[a->rank - 1], kb = b->dims[b->rank - 2];
  if (ka != kb) {
    char k[64];
    snprintf(k, sizeof k, "%lld vs %lld", (long long)ka, (long long)kb);
    return fail(n, err, "inner dimensions disagree: %s @ %s (%s)", sstr(a, sa), sstr(b, sb), k);
  }
  ir_type ba = {.rank = a->rank - 2}, bb = {.rank = b->rank - 2};
  memcpy(ba.dims, a->dims, sizeof(int64_t) * (size_t)ba.rank);
  memcpy(bb.dims, b->dims, sizeof(int64_t) * (size_t)bb.rank);
  if (!ir_broadcast_shapes(&ba, &bb, out))
    return fail(n, err, "batch dimensions of %s and %s do not broadcast", sstr(a, sa), sstr(b, sb), "");
  if (out->rank + 2 > IR_MAX_RANK) return fail(n, err, "result rank too large", "", "", "");
  out->dims[out->rank++] = a->dims[a->rank - 2];
  out->dims[out->rank++] = b->dims[b->rank - 1];
  out->dtype = a->dtype;
  return true;
}

static bool rule_reshape(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_type *x = &n->args[0]->type;
  char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
  if (ir_type_numel(x) != ir_type_numel(&n->type)) {
    char counts[64];
    snprintf(counts, sizeof counts, "%lld elements to %lld", (long long)ir_type_numel(x),
             (long long)ir_type_numel(&n->type));
    return fail(n, err, "cannot reshape %s to %s (%s)", sstr(x, a), sstr(&n->type, b), counts);
  }
  if (x->dtype != n->type.dtype) return fail(n, err, "cannot change the dtype; use cast", "", "", "");
  *out = n->type;
  return true;
}

static bool rule_transpose(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_type *x = &n->args[0]->type;
  if (n->attrs.naxes != x->rank)
    return fail(n, err, "perm must list every axis of the operand once", "", "", "");
  bool seen[IR_MAX_RANK] = {false};
  *out = *x;
  for (int i = 0; i < x->rank; i++) {
    int64_t p = n->attrs.axes[i];
    if (!check_axis(n, p, x->rank, err)) return false;
    if (seen[p]) return fail(n, err, "perm lists an axis twice", "", "", "");
    seen[p] = true;
    out->dims[i] = x->dims[p];
  }
  return true;
}

static bool rule_broadcast(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_type *x = &n->args[0]->type;
  char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
  if (!ir_broadcasts_to(x, &n->type))
    return fail(n, err, "shape %s does not broadcast to %s", sstr(x, a), sstr(&n->type, b), "");
  if (x->dtype != n->type.dtype) return fail(n, err, "cannot change the dtype; use cast", "", "", "");
  *out = n->type;
  return true;
}

static bool check_bounds(const ir_node *n, ir_error *err) {
  if (n->attrs.nbounds != n->args[0]->type.rank)
    return fail(n, err, "needs one bound per axis of its operand", "", "", "");
  return true;
}

static bool rule_slice(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_type *x = &n->args[0]->type;
  if (!check_bounds(n, err)) return false;
  *out = *x;
  for (int i = 0; i < x->rank; i++) {
    int64_t lo = n->attrs.lo[i], hi = n->attrs.hi[i];
    if (lo < 0 || lo > hi || hi > x->dims[i]) {
      char r[96], s[IR_TYPE_STR_MAX];
      snprintf(r, sizeof r, "[%lld, %lld) on axis %d", (long long)lo, (long long)hi, i);
      return fail(n, err, "range %s is outside shape %s", r, sstr(x, s), "");
    }
    out->dims[i] = hi - lo;
  }
  return true;
}

static bool rule_pad(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_type *x = &n->args[0]->type;
  if (!check_bounds(n, err)) return false;
  *out = *x;
  for (int i = 0; i < x->rank; i++) {
    if (n->attrs.lo[i] < 0 || n->attrs.hi[i] < 0)
      return fail(n, err, "padding cannot be negative", "", "", "");
    out->dims[i] = x->dims[i] + n->attrs.lo[i] + n->attrs.hi[i];
  }
  return true;
}

static bool rule_concat(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_type *first = &n->args[0]->type;
  if (!check_axis(n, n->attrs.axis, first->rank, err)) return false;
  *out = *first;
  for (int i = 1; i < n->nargs; i++) {
    const ir_type *t = &n->args[i]->type;
    if (!same_dtype(n, n->args[0], n->args[i], err)) return false;
    bool ok = t->rank == first->rank;
    for (int d = 0; ok && d < t->rank; d++)
      ok = d == n->attrs.axis || t->dims[d] == first->dims[d];
    if (!ok) {
      char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
      return fail(n, err, "shapes %s and %s differ outside the concatenated axis", sstr(first, a),
                  sstr(t, b), "");
    }
    if (t->dims[n->attrs.axis] > INT64_MAX - out->dims[n->attrs.axis])
      return fail(n, err, "result too large", "", "", "");
    out->dims[n->attrs.axis] += t->dims[n->attrs.axis];
  }
  return true;
}

static bool is_integer(ir_dtype dt) { return dt == IR_I32 || dt == IR_I64; }

static bool rule_one_hot(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_type *x = &n->args[0]->type;
  char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
  if (!is_integer(x->dtype))
    return fail(n, err, "labels must be integers, got %s", ir_dtype_name(x->dtype), "", "");
  bool ok = n->type.rank == x->rank + 1 && n->type.dtype != IR_BOOL;
  for (int i = 0; ok && i < x->rank; i++) ok = n->type.dims[i] == x->dims[i];
  if (!ok)
    return fail(n, err, "labels %s cannot become %s (expected the labels' shape plus a depth axis)",
                sstr(x, a), tstr(&n->type, b), "");
  *out = n->type;
  return true;
}

static bool rule_gather(const ir_node *n, ir_type *out, ir_error *err) {
  const ir_type *x = &n->args[0]->type, *idx = &n->args[1]->type;
  if (!is_integer(idx->dtype))
    return fail(n, err, "indices must be integers, got %s", ir_dtype_name(idx->dtype), "", "");
  if (!check_axis(n, n->attrs.axis, x->rank, err)) return false;
  ir_type expect = {.dtype = x->dtype};
  for (int i = 0; i < x->rank; i++)
    if (i != n->attrs.axis) expect.dims[expect.rank++] = x->dims[i];
  if (!ir_shape_equal(&expect, idx)) {
    char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
    return fail(n, err, "indices have shape %s, expected %s (the operand's without the axis)",
                sstr(idx, a), sstr(&expect, b), "");
  }
  *out = expect;
  return true;
}

static bool rule_softmax(const ir_node *n, ir_type *out, ir_error *err) {
  if (!check_dtype(n, n->args[0], err)) return false;
  if (!check_axis(n, n->attrs.axis, n->args[0]->type.rank, err)) return false;
  *out = n->args[0]->type;
  return true;
}

static const shape_rule shape_rules[] = {
    [IR_OP_CONST] = rule_const,       [IR_OP_IOTA] = rule_iota,
    [IR_OP_INPUT] = NULL,             [IR_OP_PARAM] = NULL,
    [IR_OP_STATE] = NULL,             [IR_OP_NEG] = rule_unary,
    [IR_OP_ABS] = rule_unary,         [IR_OP_SIGN] = rule_unary,
    [IR_OP_EXP] = rule_unary,         [IR_OP_LOG] = rule_unary,
    [IR_OP_SQRT] = rule_unary,        [IR_OP_RSQRT] = rule_unary,
    [IR_OP_TANH] = rule_unary,        [IR_OP_SIGMOID] = rule_unary,
    [IR_OP_RELU] = rule_unary,        [IR_OP_CAST] = rule_cast,
    [IR_OP_ADD] = rule_binary,        [IR_OP_SUB] = rule_binary,
    [IR_OP_MUL] = rule_binary,        [IR_OP_DIV] = rule_binary,
    [IR_OP_POW] = rule_binary,        [IR_OP_MAX] = rule_binary,
    [IR_OP_MIN] = rule_binary,        [IR_OP_EQ] = rule_compare,
    [IR_OP_NE] = rule_compare,        [IR_OP_LT] = rule_compare,
    [IR_OP_LE] = rule_compare,        [IR_OP_GT] = rule_compare,
    [IR_OP_GE] = rule_compare,        [IR_OP_SELECT] = rule_select,
    [IR_OP_REDUCE_SUM] = rule_reduce, [IR_OP_REDUCE_MEAN] = rule_reduce,
    [IR_OP_REDUCE_MAX] = rule_reduce, [IR_OP_MATMUL] = rule_matmul,
    [IR_OP_RESHAPE] = rule_reshape,   [IR_OP_TRANSPOSE] = rule_transpose,
    [IR_OP_BROADCAST] = rule_broadcast, [IR_OP_SLICE] = rule_slice,
    [IR_OP_PAD] = rule_pad,           [IR_OP_CONCAT] = rule_concat,
    [IR_OP_ONE_HOT] = rule_one_hot,   [IR_OP_GATHER] = rule_gather,
    [IR_OP_SOFTMAX] = rule_softmax,   [IR_OP_LOG_SOFTMAX] = rule_softmax,
    [IR_OP_LOGSUMEXP] = rule_reduce,
};
_Static_assert(sizeof shape_rules / sizeof shape_rules[0] == IR_OP_COUNT,
               "every op needs a shape rule (ops.def and shape.c disagree)");

bool ir_infer_type(const ir_node *n, ir_type *out, ir_error *err) {
  shape_rule rule = shape_rules[n->op];
  if (!rule) {
    ir_error_set(err, n->loc, "'%s' has no shape rule", OPNAME(n));
    return false;
  }
  memset(out, 0, sizeof *out);
  return rule(n, out, err);
}

/* The reference interpreter's kernels: what each op of the table computes, in f64, as
 * plainly as possible. One evaluator per op, in a table indexed by op, so a new row of
 * ops.def without a kernel fails to compile (the _Static_assert) or is caught by the
 * interpreter's test, which walks ir_ops.
 *
 * Indexing is done the slow, obvious way: a result's flat index is decomposed into a
 * multi-index and mapped to an operand's offset with per-axis strides (zero on broadcast
 * axes). */
#include "interp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef bool (*eval_fn)(const ir_node *n, const double *const *a, double *y, ir_error *err);

/* ---- indexing helpers ------------------------------------------------------------- */

static int64_t numel(const ir_type *t) { return ir_type_numel(t); }

/* Row-major strides of t. */
static void dense_strides(const ir_type *t, int64_t *s) {
  int64_t acc = 1;
  for (int i = t->rank - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= t->dims[i];
  }
}

/* Strides that read a value of type t at the indices of shape `to`, by NumPy's rules:
 * missing leading axes and size-1 axes repeat (stride 0). */
static void bcast_strides(const ir_type *t, const ir_type *to, int64_t *s) {
  int64_t acc = 1;
  for (int i = to->rank - 1; i >= 0; i--) {
    int j = t->rank - to->rank + i;
    if (j < 0) {
      s[i] = 0;
      continue;
    }
    s[i] = t->dims[j] == 1 ? 0 : acc;
    acc *= t->dims[j];
  }
}

/* Offset of the element with flat index `flat` in `shape`, through strides s. */
static int64_t offset_of(int64_t flat, const ir_type *shape, const int64_t *s) {
  int64_t off = 0;
  for (int d = shape->rank - 1; d >= 0; d--) {
    int64_t k = flat % shape->dims[d];
    flat /= shape->dims[d];
    off += k * s[d];
  }
  return off;
}

/* A value stored in dtype dt: integers truncate toward zero as C does, bools are 0/1. */
static double to_dtype(double v, ir_dtype dt) {
  switch (dt) {
  case IR_BOOL: return v != 0;
  case IR_I32:
  case IR_I64: return trunc(v);
  default: return v;
  }
}

static int64_t norm_axis(int64_t axis, int rank) { return axis < 0 ? axis + rank : axis; }

/* Sizes before, along and after one axis: the layout softmax and gather work in. */
static void split_axis(const ir_type *t, int64_t axis, int64_t *outer, int64_t *len,
                       int64_t *inner) {
  *outer = *inner = 1;
  for (int i = 0; i < axis; i++) *outer *= t->dims[i];
  *len = t->dims[axis];
  for (int i = (int)axis + 1; i < t->rank; i++) *inner *= t->dims[i];
}

/* ---- sources ------------------------------------------------------------------------ */

static bool eval_const(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  int64_t count = numel(&n->type);
  if (n->attrs.nvalues != 1 && n->attrs.nvalues != count) {
    ir_error_set(err, n->loc, "const has %lld values for %lld elements",
                 (long long)n->attrs.nvalues, (long long)count);
    return false;
  }
  for (int64_t i = 0; i < count; i++)
    y[i] = to_dtype(n->attrs.values[n->attrs.nvalues == 1 ? 0 : i], n->type.dtype);
  return true;
}

static bool eval_iota(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  int64_t outer, len, inner;
  split_axis(&n->type, norm_axis(n->attrs.axis, n->type.rank), &outer, &len, &inner);
  for (int64_t i = 0; i < numel(&n->type); i++) y[i] = (double)((i / inner) % len);
  return true;
}

static bool eval_arg(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  ir_error_set(err, n->loc, "argument %%%s has no value of its own", n->name ? n->name : "?");
  return false;
}

/* ---- elementwise ---------------------------------------------------------------------- */

static double f_neg(double x) { return -x; }
static double f_sign(double x) { return x > 0 ? 1 : x < 0 ? -1 : x; }
static double f_rsqrt(double x) { return 1 / sqrt(x); }
/* Both branches keep exp's argument non-positive, so neither overflows. */
static double f_sigmoid(double x) {
  if (x >= 0) return 1 / (1 + exp(-x));
  double e = exp(x);
  return e / (1 + e);
}
static double f_relu(double x) { return x > 0 || isnan(x) ? x : 0; }
static double f_cast(double x) { return x; } /* the rounding is to_dtype's */

static double (*const unary_fns[IR_OP_COUNT])(double) = {
    [IR_OP_NEG] = f_neg,   [IR_OP_ABS] = fabs,       [IR_OP_SIGN] = f_sign,
    [IR_OP_EXP] = exp,     [IR_OP_LOG] = log,        [IR_OP_SQRT] = sqrt,
    [IR_OP_RSQRT] = f_rsqrt, [IR_OP_TANH] = tanh,    [IR_OP_SIGMOID] = f_sigmoid,
    [IR_OP_RELU] = f_relu, [IR_OP_CAST] = f_cast,
};

static double f_add(double a, double b) { return a + b; }
static double f_sub(double a, double b) { return a - b; }
static double f_mul(double a, double b) { return a * b; }
static double f_div(double a, double b) { return a / b; }
/* max and min propagate NaN (fmax would drop it). */
static double f_max(double a, double b) { return a >= b || isnan(a) ? a : b; }
static double f_min(double a, double b) { return a <= b || isnan(a) ? a : b; }
static double f_eq(double a, double b) { return a == b; }
static double f_ne(double a, double b) { return a != b; }
static double f_lt(double a, double b) { return a < b; }
static double f_le(double a, double b) { return a <= b; }
static double f_gt(double a, double b) { return a > b; }
static double f_ge(double a, double b) { return a >= b; }

static double (*const binary_fns[IR_OP_COUNT])(double, double) = {
    [IR_OP_ADD] = f_add, [IR_OP_SUB] = f_sub, [IR_OP_MUL] = f_mul, [IR_OP_DIV] = f_div,
    [IR_OP_POW] = pow,   [IR_OP_MAX] = f_max, [IR_OP_MIN] = f_min, [IR_OP_EQ] = f_eq,
    [IR_OP_NE] = f_ne,   [IR_OP_LT] = f_lt,   [IR_OP_LE] = f_le,   [IR_OP_GT] = f_gt,
    [IR_OP_GE] = f_ge,
};

static bool eval_unary(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  double (*fn)(double) = unary_fns[n->op];
  int64_t s[IR_MAX_RANK];
  bcast_strides(&n->args[0]->type, &n->type, s);
  for (int64_t i = 0; i < numel(&n->type); i++)
    y[i] = to_dtype(fn(a[0][offset_of(i, &n->type, s)]), n->type.dtype);
  return true;
}

static bool eval_binary(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  double (*fn)(double, double) = binary_fns[n->op];
  bool int_div = n->op == IR_OP_DIV && (n->type.dtype == IR_I32 || n->type.dtype == IR_I64);
  int64_t s0[IR_MAX_RANK], s1[IR_MAX_RANK];
  bcast_strides(&n->args[0]->type, &n->type, s0);
  bcast_strides(&n->args[1]->type, &n->type, s1);
  for (int64_t i = 0; i < numel(&n->type); i++) {
    double u = a[0][offset_of(i, &n->type, s0)], v = a[1][offset_of(i, &n->type, s1)];
    y[i] = int_div && v == 0 ? 0 : to_dtype(fn(u, v), n->type.dtype);
  }
  return true;
}

static bool eval_select(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  int64_t s[3][IR_MAX_RANK];
  for (int k = 0; k < 3; k++) bcast_strides(&n->args[k]->type, &n->type, s[k]);
  for (int64_t i = 0; i < numel(&n->type); i++) {
    bool c = a[0][offset_of(i, &n->type, s[0])] != 0;
    y[i] = to_dtype(c ? a[1][offset_of(i, &n->type, s[1])] : a[2][offset_of(i, &n->type, s[2])],
                    n->type.dtype);
  }
  return true;
}

/* ---- reductions ------------------------------------------------------------------------- */

/* Strides that map an operand's multi-index to its result's offset: zero on reduced
 * axes, the result's stride on the others (with or without keepdims). */
static void reduce_strides(const ir_node *n, int64_t *s, int64_t *count) {
  const ir_type *x = &n->args[0]->type;
  bool reduced[IR_MAX_RANK] = {false};
  for (int i = 0; i < n->attrs.naxes; i++) reduced[norm_axis(n->attrs.axes[i], x->rank)] = true;
  int64_t ys[IR_MAX_RANK];
  dense_strides(&n->type, ys);
  *count = 1;
  for (int i = 0, pos = 0; i < x->rank; i++) {
    if (reduced[i]) {
      s[i] = 0;
      *count *= x->dims[i];
      if (n->attrs.keepdims) pos++;
    } else {
      s[i] = ys[pos++];
    }
  }
}

static bool eval_reduce(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  const ir_type *x = &n->args[0]->type;
  int64_t s[IR_MAX_RANK], count, ny = numel(&n->type), nx = numel(x);
  reduce_strides(n, s, &count);
  bool is_max = n->op == IR_OP_REDUCE_MAX || n->op == IR_OP_LOGSUMEXP;
  for (int64_t i = 0; i < ny; i++) y[i] = is_max ? -INFINITY : 0;
  for (int64_t i = 0; i < nx; i++) {
    double v = a[0][i], *acc = &y[offset_of(i, x, s)];
    if (!is_max)
      *acc += v;
    else if (v > *acc || isnan(v))
      *acc = v;
  }
  if (n->op == IR_OP_REDUCE_MEAN)
    for (int64_t i = 0; i < ny; i++) y[i] /= (double)count;
  if (n->op == IR_OP_LOGSUMEXP) {
    /* log Σ exp(x) = m + log Σ exp(x - m) with m the maximum: every exp is at most 1. */
    double *sum = calloc((size_t)(ny ? ny : 1), sizeof *sum);
    if (!sum) {
      ir_error_set(err, n->loc, "out of memory");
      return false;
    }
    for (int64_t i = 0; i < nx; i++) {
      int64_t o = offset_of(i, x, s);
      if (isfinite(y[o])) sum[o] += exp(a[0][i] - y[o]);
    }
    for (int64_t i = 0; i < ny; i++)
      if (isfinite(y[i])) y[i] += log(sum[i]);
    free(sum);
  }
  for (int64_t i = 0; i < ny; i++) y[i] = to_dtype(y[i], n->type.dtype);
  return true;
}

/* ---- contraction -------------------------------------------------------------------------- */

/* [..., m, k] @ [..., k, n] with the batch axes broadcast. */
static bool eval_matmul(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  const ir_type *ta = &n->args[0]->type, *tb = &n->args[1]->type, *ty = &n->type;
  int64_t m = ta->dims[ta->rank - 2], k = ta->dims[ta->rank - 1], nn = tb->dims[tb->rank - 1];
  ir_type ab = ir_type_make(ta->dtype, ta->rank - 2, ta->dims);
  ir_type bb = ir_type_make(tb->dtype, tb->rank - 2, tb->dims);
  ir_type yb = ir_type_make(ty->dtype, ty->rank - 2, ty->dims);
  int64_t sa[IR_MAX_RANK], sb[IR_MAX_RANK];
  bcast_strides(&ab, &yb, sa);
  bcast_strides(&bb, &yb, sb);
  for (int64_t bi = 0; bi < numel(&yb); bi++) {
    const double *pa = a[0] + offset_of(bi, &yb, sa) * m * k;
    const double *pb = a[1] + offset_of(bi, &yb, sb) * k * nn;
    double *py = y + bi * m * nn;
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < nn; j++) {
        double acc = 0;
        for (int64_t p = 0; p < k; p++) acc += pa[i * k + p] * pb[p * nn + j];
        py[i * nn + j] = to_dtype(acc, ty->dtype);
      }
  }
  return true;
}

/* ---- layout ---------------------------------------------------------------------------------- */

static bool eval_reshape(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  memcpy(y, a[0], (size_t)numel(&n->type) * sizeof *y);
  return true;
}

static bool eval_broadcast(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  int64_t s[IR_MAX_RANK];
  bcast_strides(&n->args[0]->type, &n->type, s);
  for (int64_t i = 0; i < numel(&n->type); i++) y[i] = a[0][offset_of(i, &n->type, s)];
  return true;
}

/* Result axis i is operand axis perm[i]. */
static bool eval_transpose(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  int64_t xs[IR_MAX_RANK], s[IR_MAX_RANK];
  dense_strides(&n->args[0]->type, xs);
  for (int i = 0; i < n->type.rank; i++) s[i] = xs[n->attrs.axes[i]];
  for (int64_t i = 0; i < numel(&n->type); i++) y[i] = a[0][offset_of(i, &n->type, s)];
  return true;
}

static bool eval_slice(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  int64_t xs[IR_MAX_RANK], base = 0;
  dense_strides(&n->args[0]->type, xs);
  for (int i = 0; i < n->type.rank; i++) base += n->attrs.lo[i] * xs[i];
  for (int64_t i = 0; i < numel(&n->type); i++) y[i] = a[0][base + offset_of(i, &n->type, xs)];
  return true;
}

/* Each result element reads operand index (its index - lo) when that is in range. */
static bool eval_pad(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  const ir_type *x = &n->args[0]->type;
  int64_t xs[IR_MAX_RANK];
  dense_strides(x, xs);
  for (int64_t i = 0; i < numel(&n->type); i++) {
    int64_t flat = i, off = 0;
    bool inside = true;
    for (int d = n->type.rank - 1; d >= 0; d--) {
      int64_t k = flat % n->type.dims[d] - n->attrs.lo[d];
      flat /= n->type.dims[d];
      if (k < 0 || k >= x->dims[d]) inside = false;
      off += k * xs[d];
    }
    y[i] = inside ? a[0][off] : 0;
  }
  return true;
}

static bool eval_concat(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  int64_t axis = norm_axis(n->attrs.axis, n->type.rank), ys[IR_MAX_RANK], at = 0;
  dense_strides(&n->type, ys);
  for (int k = 0; k < n->nargs; k++) {
    const ir_type *x = &n->args[k]->type;
    for (int64_t i = 0; i < numel(x); i++) y[at * ys[axis] + offset_of(i, x, ys)] = a[k][i];
    at += x->dims[axis];
  }
  return true;
}

/* ---- labels ------------------------------------------------------------------------------------ */

/* i[...] -> [..., depth]: 1 where the last index equals the label. */
static bool eval_one_hot(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  int64_t depth = n->type.dims[n->type.rank - 1];
  for (int64_t i = 0; i < numel(&n->args[0]->type); i++)
    for (int64_t j = 0; j < depth; j++) y[i * depth + j] = a[0][i] == (double)j;
  return true;
}

/* y[i..., j...] = x[i..., idx[i..., j...], j...]: the index has the operand's shape
 * without the gathered axis, and so has the result. */
static bool eval_gather(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  const ir_type *x = &n->args[0]->type;
  int64_t outer, len, inner;
  split_axis(x, norm_axis(n->attrs.axis, x->rank), &outer, &len, &inner);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      double v = a[1][o * inner + in];
      if (!(v >= 0 && v < (double)len) || v != trunc(v)) {
        ir_error_set(err, n->loc, "gather index %g is out of range [0, %lld)", v, (long long)len);
        return false;
      }
      y[o * inner + in] = a[0][(o * len + (int64_t)v) * inner + in];
    }
  return true;
}

/* ---- softmax family ------------------------------------------------------------------------------ */

/* Along one axis, with the maximum subtracted so every exp is at most 1. */
static bool eval_softmax(const ir_node *n, const double *const *a, double *y, ir_error *err) {
  int64_t outer, len, inner;
  split_axis(&n->type, norm_axis(n->attrs.axis, n->type.rank), &outer, &len, &inner);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      const double *x = a[0] + o * len * inner + in;
      double *py = y + o * len * inner + in, mx = -INFINITY, sum = 0;
      for (int64_t k = 0; k < len; k++)
        if (x[k * inner] > mx || isnan(x[k * inner])) mx = x[k * inner];
      for (int64_t k = 0; k < len; k++) sum += exp(x[k * inner] - mx);
      for (int64_t k = 0; k < len; k++)
        py[k * inner] = n->op == IR_OP_SOFTMAX ? exp(x[k * inner] - mx) / sum
                                               : x[k * inner] - mx - log(sum);
    }
  return true;
}

/* ---- the table ------------------------------------------------------------------------------------- */

static const eval_fn eval_rules[] = {
    [IR_OP_CONST] = eval_const,       [IR_OP_IOTA] = eval_iota,
    [IR_OP_INPUT] = eval_arg,         [IR_OP_PARAM] = eval_arg,
    [IR_OP_STATE] = eval_arg,         [IR_OP_NEG] = eval_unary,
    [IR_OP_ABS] = eval_unary,         [IR_OP_SIGN] = eval_unary,
    [IR_OP_EXP] = eval_unary,         [IR_OP_LOG] = eval_unary,
    [IR_OP_SQRT] = eval_unary,        [IR_OP_RSQRT] = eval_unary,
    [IR_OP_TANH] = eval_unary,        [IR_OP_SIGMOID] = eval_unary,
    [IR_OP_RELU] = eval_unary,        [IR_OP_CAST] = eval_unary,
    [IR_OP_ADD] = eval_binary,        [IR_OP_SUB] = eval_binary,
    [IR_OP_MUL] = eval_binary,        [IR_OP_DIV] = eval_binary,
    [IR_OP_POW] = eval_binary,        [IR_OP_MAX] = eval_binary,
    [IR_OP_MIN] = eval_binary,        [IR_OP_EQ] = eval_binary,
    [IR_OP_NE] = eval_binary,         [IR_OP_LT] = eval_binary,
    [IR_OP_LE] = eval_binary,         [IR_OP_GT] = eval_binary,
    [IR_OP_GE] = eval_binary,         [IR_OP_SELECT] = eval_select,
    [IR_OP_REDUCE_SUM] = eval_reduce, [IR_OP_REDUCE_MEAN] = eval_reduce,
    [IR_OP_REDUCE_MAX] = eval_reduce, [IR_OP_MATMUL] = eval_matmul,
    [IR_OP_RESHAPE] = eval_reshape,   [IR_OP_TRANSPOSE] = eval_transpose,
    [IR_OP_BROADCAST] = eval_broadcast, [IR_OP_SLICE] = eval_slice,
    [IR_OP_PAD] = eval_pad,           [IR_OP_CONCAT] = eval_concat,
    [IR_OP_ONE_HOT] = eval_one_hot,   [IR_OP_GATHER] = eval_gather,
    [IR_OP_SOFTMAX] = eval_softmax,   [IR_OP_LOG_SOFTMAX] = eval_softmax,
    [IR_OP_LOGSUMEXP] = eval_reduce,
};
_Static_assert(sizeof eval_rules / sizeof eval_rules[0] == IR_OP_COUNT,
               "every op of ops.def needs an evaluator in eval_rules");

bool ir_interp_eval_node(const ir_node *n, const double *const *args, double *out,
                         ir_error *err) {
  eval_fn fn = eval_rules[n->op];
  if (!fn) {
    ir_error_set(err, n->loc, "the interpreter has no kernel for '%s'", ir_ops[n->op].name);
    return false;
  }
  return fn(n, args, out, err);
}

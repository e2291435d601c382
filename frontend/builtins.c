/* The built-in functions: one row per function (name, signature, how it lowers), and
 * the argument binder every call goes through (built-in, user-defined, initialiser,
 * optimiser, data source), so all calls report their mistakes in the same words.
 *
 * Every IR op has a function of the same name (a unit test walks ops.def to hold us to
 * it); a few conveniences (sum, mean, cross_entropy, mse) lower to several ops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fe_impl.h"

/* ---- binding arguments to a signature ------------------------------------------------------ */

typedef struct {
  int n;
  const char *names[FE_MAX_SIG];
  bool optional[FE_MAX_SIG];
  int variadic; /* index of the '*' parameter, or -1 */
} signature;

static void parse_sig(fe_arena *arena, const char *sig, signature *out) {
  memset(out, 0, sizeof *out);
  out->variadic = -1;
  const char *p = sig;
  while (*p && out->n < FE_MAX_SIG) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    if (*p == '*') {
      out->variadic = out->n;
      p++;
    }
    size_t len = strcspn(p, ",? ");
    out->names[out->n] = fe_strndup(arena, p, len);
    p += len;
    if (*p == '?') {
      out->optional[out->n] = true;
      p++;
    }
    out->n++;
  }
}

static const char *count_words(const signature *s, char *buf, size_t size) {
  int required = 0, total = 0;
  for (int i = 0; i < s->n; i++) {
    if (i == s->variadic) continue;
    total++;
    if (!s->optional[i]) required++;
  }
  if (required == total)
    snprintf(buf, size, "%d argument%s", total, total == 1 ? "" : "s");
  else
    snprintf(buf, size, "%d to %d arguments", required, total);
  return buf;
}

static bool bind_sig(fe_lower *lw, const fe_expr *call, const char *what, const signature *sig,
                     fe_bound_args *out) {
  memset(out, 0, sizeof *out);
  fe_ctx *c = fe_lower_ctx(lw);
  int npos = 0;
  for (int i = 0; i < call->nargs; i++)
    if (!call->args[i].name) npos++;
  if (sig->variadic >= 0) {
    out->rest = fe_alloc(&c->arena, (size_t)(npos + 1) * sizeof *out->rest);
  } else if (npos > sig->n) {
    char words[64];
    fe_lower_error(lw, call->op_span, call->span, "%s takes %s, but %d were given", what,
                   count_words(sig, words, sizeof words), npos);
    return false;
  }
  int next = 0;
  for (int i = 0; i < call->nargs; i++) {
    const fe_arg *a = &call->args[i];
    if (a->name) continue;
    if (sig->variadic >= 0)
      out->rest[out->nrest++] = a->value;
    else
      out->slot[next++] = a->value;
  }
  for (int i = 0; i < call->nargs; i++) {
    const fe_arg *a = &call->args[i];
    if (!a->name) continue;
    int idx = -1;
    for (int k = 0; k < sig->n; k++)
      if (k != sig->variadic && strcmp(sig->names[k], a->name) == 0) idx = k;
    if (idx < 0) {
      const char *close = fe_closest(a->name, sig->names, sig->n);
      if (close)
        fe_lower_error(lw, a->name_span, a->name_span, "%s has no parameter '%s'; did you mean '%s'?",
                       what, a->name, close);
      else
        fe_lower_error(lw, a->name_span, a->name_span, "%s has no parameter '%s'", what, a->name);
      return false;
    }
    if (out->slot[idx]) {
      fe_lower_error(lw, a->name_span, a->name_span, "argument '%s' is given twice", a->name);
      return false;
    }
    out->slot[idx] = a->value;
  }
  if (sig->variadic >= 0 && out->nrest == 0) {
    fe_lower_error(lw, call->op_span, call->span, "%s needs at least one tensor", what);
    return false;
  }
  for (int k = 0; k < sig->n; k++) {
    if (k == sig->variadic || sig->optional[k] || out->slot[k]) continue;
    bool keywords = npos < call->nargs;
    char words[64];
    if (!keywords)
      fe_lower_error(lw, call->op_span, call->span, "%s takes %s, but %d %s given", what,
                     count_words(sig, words, sizeof words), npos, npos == 1 ? "was" : "were");
    else
      fe_lower_error(lw, call->op_span, call->span, "%s needs its argument '%s'", what, sig->names[k]);
    return false;
  }
  return true;
}

bool fe_bind_args(fe_lower *lw, const fe_expr *call, const char *what, const char *sig,
                  fe_bound_args *out) {
  signature s;
  parse_sig(&fe_lower_ctx(lw)->arena, sig, &s);
  return bind_sig(lw, call, what, &s, out);
}

/* ---- helpers ------------------------------------------------------------------------------- */

typedef struct builtin builtin;
typedef fe_val (*builtin_fn)(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                             const builtin *b);
struct builtin {
  const char *name;
  const char *sig;
  builtin_fn lower;
  ir_opcode op;
};

#define AT call->op_span, call->span

/* A tensor argument; numbers and literals become constants of dtype `weak`. */
static ir_node *tensor(fe_lower *lw, fe_scope *s, const fe_expr *e, ir_dtype weak) {
  return fe_to_node(lw, fe_lower_expr(lw, s, e), weak, e->span);
}

/* `arg` is the operand's expression, to quote it in the hint (may be NULL). */
static bool needs_float(fe_lower *lw, const fe_expr *call, const char *name, const ir_node *x,
                        const fe_expr *arg) {
  if (ir_dtype_is_float(x->type.dtype)) return true;
  char t[IR_TYPE_STR_MAX];
  const char *text = arg ? fe_span_text(fe_lower_ctx(lw), arg->span, "x") : "x";
  fe_lower_error(lw, AT, "'%s' needs a floating-point operand, but %s is %s", name,
                 strcmp(text, "x") ? fe_fmt(lw, "'%s'", text) : "it", ir_type_str(&x->type, t, sizeof t));
  fe_note(fe_lower_ctx(lw), arg ? arg->span : call->span, "convert it first with cast(%s, f32)", text);
  return false;
}

/* An axis argument (or the default when absent), negative ones counted from the end,
 * checked against the operand's rank. */
static bool axis_arg(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_expr *e, int64_t dflt,
                     const ir_type *t, int64_t *out) {
  int64_t ax = dflt;
  if (e && !fe_eval_int(lw, s, e, &ax)) return false;
  int64_t norm = ax < 0 ? ax + t->rank : ax;
  if (norm < 0 || norm >= t->rank) {
    char ts[IR_TYPE_STR_MAX];
    fe_span at = e ? e->span : call->op_span; /* the default axis: blame the call */
    fe_lower_error(lw, at, at, "axis %lld is out of range for %s (rank %d)", (long long)ax,
                   ir_type_str(t, ts, sizeof ts), t->rank);
    return false;
  }
  *out = norm;
  return true;
}

static fe_val build1(fe_lower *lw, const fe_expr *call, ir_opcode op, ir_node *x, const ir_attrs *attrs,
                     const ir_type *given) {
  return fe_node_val(fe_build(lw, AT, op, &x, 1, attrs, given));
}

/* ---- families ---------------------------------------------------------------------------- */

/* neg(x), exp(x), relu(x), ... */
static fe_val lower_unary(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                          const builtin *b) {
  ir_node *x = tensor(lw, s, a->slot[0], IR_F32);
  if (!x) return fe_poison();
  if ((ir_ops[b->op].flags & IR_F_FLOAT) && !needs_float(lw, call, b->name, x, a->slot[0])) return fe_poison();
  return build1(lw, call, b->op, x, NULL, NULL);
}

/* add(a, b), eq(a, b), ...: broadcasting as the infix operators do. */
static fe_val lower_binary(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                           const builtin *b) {
  fe_val x = fe_lower_expr(lw, s, a->slot[0]), y = fe_lower_expr(lw, s, a->slot[1]);
  return fe_binary(lw, AT, b->name, b->op, x, y);
}

static fe_val lower_matmul(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                           const builtin *b) {
  fe_val x = fe_lower_expr(lw, s, a->slot[0]), y = fe_lower_expr(lw, s, a->slot[1]);
  return fe_matmul(lw, AT, x, y);
}

/* cast(x, dtype) */
static fe_val lower_cast(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                         const builtin *b) {
  ir_dtype dt;
  if (!fe_eval_dtype(lw, a->slot[1], &dt)) return fe_poison();
  ir_node *x = tensor(lw, s, a->slot[0], dt);
  if (!x || x->type.dtype == dt) return fe_node_val(x);
  ir_type t = x->type;
  t.dtype = dt;
  return build1(lw, call, IR_OP_CAST, x, NULL, &t);
}

/* select(cond, a, b): cond ? a : b, all three broadcast to one shape. */
static fe_val lower_select(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                           const builtin *b) {
  ir_node *c = tensor(lw, s, a->slot[0], IR_BOOL);
  fe_val x = fe_lower_expr(lw, s, a->slot[1]), y = fe_lower_expr(lw, s, a->slot[2]);
  if (!c || x.kind == FV_POISON || y.kind == FV_POISON) return fe_poison();
  ir_dtype dt = x.kind == FV_NODE ? x.node->type.dtype : y.kind == FV_NODE ? y.node->type.dtype : IR_F32;
  ir_node *nx = fe_to_node(lw, x, dt, a->slot[1]->span), *ny = nx ? fe_to_node(lw, y, dt, a->slot[2]->span) : NULL;
  if (!ny) return fe_poison();
  ir_type xy, all;
  char t1[IR_TYPE_STR_MAX], t2[IR_TYPE_STR_MAX], t3[IR_TYPE_STR_MAX];
  if (!ir_broadcast_shapes(&nx->type, &ny->type, &xy) || !ir_broadcast_shapes(&c->type, &xy, &all)) {
    fe_lower_error(lw, AT, "shapes of 'select' do not broadcast: %s, %s and %s",
                   ir_type_str(&c->type, t1, sizeof t1), ir_type_str(&nx->type, t2, sizeof t2),
                   ir_type_str(&ny->type, t3, sizeof t3));
    return fe_poison();
  }
  ir_node *args[3] = {c, nx, ny};
  for (int i = 0; i < 3; i++) {
    if (ir_shape_equal(&args[i]->type, &all)) continue;
    ir_type t = all;
    t.dtype = args[i]->type.dtype;
    args[i] = fe_build(lw, AT, IR_OP_BROADCAST, &args[i], 1, NULL, &t);
    if (!args[i]) return fe_poison();
  }
  return fe_node_val(fe_build(lw, AT, IR_OP_SELECT, args, 3, NULL, NULL));
}

/* sum(x, axis?, keepdims?, axes?) and the other reductions: over the given axes (an int
 * or a list; `axes` is the IR's spelling), over all of them by default. */
static fe_val lower_reduce(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                           const builtin *b) {
  ir_node *x = tensor(lw, s, a->slot[0], IR_F32);
  if (!x) return fe_poison();
  if ((ir_ops[b->op].flags & IR_F_FLOAT) && !needs_float(lw, call, b->name, x, a->slot[0])) return fe_poison();
  const fe_expr *axes_e = a->slot[1];
  if (a->slot[1] && a->slot[3]) {
    fe_lower_error(lw, a->slot[3]->span, a->slot[3]->span, "give either 'axis' or 'axes', not both");
    return fe_poison();
  }
  if (!axes_e) axes_e = a->slot[3];
  ir_attrs attrs = {0};
  if (a->slot[2] && !fe_eval_bool(lw, a->slot[2], &attrs.keepdims)) return fe_poison();
  if (x->type.rank == 0) return fe_node_val(x); /* reducing a scalar leaves it as it is */
  bool chosen[IR_MAX_RANK] = {false};
  if (!axes_e) {
    for (int i = 0; i < x->type.rank; i++) chosen[i] = true;
  } else {
    int64_t axes[IR_MAX_RANK];
    int n;
    if (!fe_eval_ints(lw, s, axes_e, axes, IR_MAX_RANK, &n)) return fe_poison();
    for (int i = 0; i < n; i++) {
      const fe_expr *item = axes_e->kind == EX_LIST ? axes_e->args[i].value : axes_e;
      int64_t ax = axes[i], norm = ax < 0 ? ax + x->type.rank : ax;
      char t[IR_TYPE_STR_MAX];
      if (norm < 0 || norm >= x->type.rank) {
        fe_lower_error(lw, item->span, item->span, "axis %lld is out of range for %s (rank %d)",
                       (long long)ax, ir_type_str(&x->type, t, sizeof t), x->type.rank);
        return fe_poison();
      }
      if (chosen[norm]) {
        fe_lower_error(lw, item->span, item->span, "axis %lld is listed twice", (long long)ax);
        return fe_poison();
      }
      chosen[norm] = true;
    }
    if (n == 0) return fe_node_val(x);
  }
  for (int i = 0; i < x->type.rank; i++)
    if (chosen[i]) attrs.axes[attrs.naxes++] = i;
  return build1(lw, call, b->op, x, &attrs, NULL);
}

/* A shape argument: a list of dimensions (constants). */
static bool shape_arg(fe_lower *lw, fe_scope *s, const fe_expr *e, ir_type *t) {
  int n;
  if (e->kind != EX_LIST) {
    fe_lower_error(lw, e->span, e->span, "expected a shape, e.g. [batch, 784]");
    return false;
  }
  if (!fe_eval_ints(lw, s, e, t->dims, IR_MAX_RANK, &n)) return false;
  t->rank = n;
  return true;
}

/* reshape(x, shape): one dimension may be -1, inferred from the others. */
static fe_val lower_reshape(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                            const builtin *b) {
  ir_node *x = tensor(lw, s, a->slot[0], IR_F32);
  ir_type t = {0};
  if (!x || !shape_arg(lw, s, a->slot[1], &t)) return fe_poison();
  t.dtype = x->type.dtype;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < t.rank; i++) {
    const fe_expr *d = a->slot[1]->args[i].value;
    if (t.dims[i] == -1 && infer < 0) {
      infer = i;
    } else if (t.dims[i] < 1) {
      fe_lower_error(lw, d->span, d->span, "a dimension must be a positive integer (or one -1), got %lld",
                     (long long)t.dims[i]);
      return fe_poison();
    } else {
      known *= t.dims[i];
      if (known > (int64_t)1 << 40) known = (int64_t)1 << 40;
    }
  }
  if (infer >= 0) {
    int64_t total = ir_type_numel(&x->type);
    if (total % known != 0) {
      char ts[IR_TYPE_STR_MAX];
      fe_lower_error(lw, AT, "cannot reshape %s: %lld elements are not a multiple of %lld",
                     ir_type_str(&x->type, ts, sizeof ts), (long long)total, (long long)known);
      return fe_poison();
    }
    t.dims[infer] = total / known;
  }
  if (ir_type_equal(&t, &x->type)) return fe_node_val(x);
  return build1(lw, call, IR_OP_RESHAPE, x, NULL, &t);
}

/* broadcast(x, shape) */
static fe_val lower_broadcast(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                              const builtin *b) {
  ir_node *x = tensor(lw, s, a->slot[0], IR_F32);
  ir_type t = {0};
  if (!x || !shape_arg(lw, s, a->slot[1], &t)) return fe_poison();
  t.dtype = x->type.dtype;
  if (ir_type_equal(&t, &x->type)) return fe_node_val(x);
  return build1(lw, call, IR_OP_BROADCAST, x, NULL, &t);
}

/* transpose(x, perm?): the axes reversed by default. */
static fe_val lower_transpose(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                              const builtin *b) {
  ir_node *x = tensor(lw, s, a->slot[0], IR_F32);
  if (!x) return fe_poison();
  ir_attrs attrs = {.naxes = x->type.rank};
  for (int i = 0; i < x->type.rank; i++) attrs.axes[i] = x->type.rank - 1 - i;
  if (a->slot[1]) {
    if (!fe_eval_ints(lw, s, a->slot[1], attrs.axes, IR_MAX_RANK, &attrs.naxes)) return fe_poison();
    for (int i = 0; i < attrs.naxes; i++)
      if (attrs.axes[i] < 0) attrs.axes[i] += x->type.rank;
  }
  return build1(lw, call, IR_OP_TRANSPOSE, x, &attrs, NULL);
}

/* slice(x, start, end) and pad(x, lo, hi): one bound per axis. Slice bounds may count
 * from the end (-1 is the last index), as in Python. */
static fe_val lower_bounds(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                           const builtin *b) {
  ir_node *x = tensor(lw, s, a->slot[0], IR_F32);
  if (!x) return fe_poison();
  ir_attrs attrs = {0};
  int nlo, nhi;
  if (!fe_eval_ints(lw, s, a->slot[1], attrs.lo, IR_MAX_RANK, &nlo) ||
      !fe_eval_ints(lw, s, a->slot[2], attrs.hi, IR_MAX_RANK, &nhi))
    return fe_poison();
  char t[IR_TYPE_STR_MAX];
  if (nlo != x->type.rank || nhi != x->type.rank) {
    fe_lower_error(lw, AT, "'%s' needs one bound per axis of %s in each list (%d), got %d and %d",
                   b->name, ir_type_str(&x->type, t, sizeof t), x->type.rank, nlo, nhi);
    return fe_poison();
  }
  attrs.nbounds = x->type.rank;
  if (b->op == IR_OP_SLICE) {
    for (int i = 0; i < x->type.rank; i++) {
      if (attrs.lo[i] < 0) attrs.lo[i] += x->type.dims[i];
      if (attrs.hi[i] < 0) attrs.hi[i] += x->type.dims[i];
    }
  }
  return build1(lw, call, b->op, x, &attrs, NULL);
}

/* concat(a, b, ..., axis?) */
static fe_val lower_concat(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                           const builtin *b) {
  fe_val *vals = fe_alloc(&fe_lower_ctx(lw)->arena, (size_t)a->nrest * sizeof *vals);
  ir_dtype dt = IR_F32;
  bool have = false, ok = true;
  for (int i = 0; i < a->nrest; i++) {
    vals[i] = fe_lower_expr(lw, s, a->rest[i]);
    ok = ok && vals[i].kind != FV_POISON;
    if (vals[i].kind == FV_NODE && !have) {
      dt = vals[i].node->type.dtype;
      have = true;
    }
  }
  if (!ok) return fe_poison();
  ir_node **args = fe_alloc(&fe_lower_ctx(lw)->arena, (size_t)a->nrest * sizeof *args);
  for (int i = 0; i < a->nrest; i++)
    if (!(args[i] = fe_to_node(lw, vals[i], dt, a->rest[i]->span))) return fe_poison();
  ir_attrs attrs = {0};
  if (!axis_arg(lw, s, call, a->slot[1], 0, &args[0]->type, &attrs.axis)) return fe_poison();
  if (a->nrest == 1) return fe_node_val(args[0]);
  return fe_node_val(fe_build(lw, AT, IR_OP_CONCAT, args, a->nrest, &attrs, NULL));
}

/* one_hot(labels, depth, dtype?): integer labels [...] into [..., depth], f32 by default. */
static fe_val lower_one_hot(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                            const builtin *b) {
  ir_node *x = tensor(lw, s, a->slot[0], IR_I32);
  int64_t depth;
  ir_dtype dt = IR_F32;
  if (!x || !fe_eval_int(lw, s, a->slot[1], &depth)) return fe_poison();
  if (a->slot[2] && !fe_eval_dtype(lw, a->slot[2], &dt)) return fe_poison();
  if (depth < 1 || x->type.rank == IR_MAX_RANK) {
    fe_lower_error(lw, a->slot[1]->span, a->slot[1]->span, "the depth must be a positive integer");
    return fe_poison();
  }
  ir_type t = x->type;
  t.dtype = dt;
  t.dims[t.rank++] = depth;
  return build1(lw, call, IR_OP_ONE_HOT, x, NULL, &t);
}

/* gather(x, indices, axis?): x's elements at the indices along axis (the last one by
 * default), which disappears: x [10,5] with indices [10] gives [10]. */
static fe_val lower_gather(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                           const builtin *b) {
  ir_node *args[2] = {tensor(lw, s, a->slot[0], IR_F32), NULL};
  if (!args[0] || !(args[1] = tensor(lw, s, a->slot[1], IR_I32))) return fe_poison();
  ir_attrs attrs = {0};
  if (args[0]->type.rank == 0) {
    fe_lower_error(lw, AT, "'gather' needs a tensor with at least one dimension");
    return fe_poison();
  }
  if (!axis_arg(lw, s, call, a->slot[2], -1, &args[0]->type, &attrs.axis)) return fe_poison();
  return fe_node_val(fe_build(lw, AT, IR_OP_GATHER, args, 2, &attrs, NULL));
}

/* softmax(x, axis?), log_softmax(x, axis?): along the last axis by default. */
static fe_val lower_softmax(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                            const builtin *b) {
  ir_node *x = tensor(lw, s, a->slot[0], IR_F32);
  if (!x || !needs_float(lw, call, b->name, x, a->slot[0])) return fe_poison();
  if (x->type.rank == 0) {
    fe_lower_error(lw, AT, "'%s' needs a tensor with at least one dimension", b->name);
    return fe_poison();
  }
  ir_attrs attrs = {0};
  if (!axis_arg(lw, s, call, a->slot[1], -1, &x->type, &attrs.axis)) return fe_poison();
  return build1(lw, call, b->op, x, &attrs, NULL);
}

/* iota(shape, axis?, dtype?): each element is its index along axis (0 by default). */
static fe_val lower_iota(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                         const builtin *b) {
  ir_type t = {.dtype = IR_I32};
  if (!shape_arg(lw, s, a->slot[0], &t)) return fe_poison();
  if (a->slot[2] && !fe_eval_dtype(lw, a->slot[2], &t.dtype)) return fe_poison();
  for (int i = 0; i < t.rank; i++) {
    if (t.dims[i] < 1) {
      fe_lower_error(lw, a->slot[0]->span, a->slot[0]->span, "a dimension must be a positive integer");
      return fe_poison();
    }
  }
  if (t.rank == 0) {
    fe_lower_error(lw, AT, "'iota' needs a shape with at least one dimension");
    return fe_poison();
  }
  ir_attrs attrs = {0};
  if (!axis_arg(lw, s, call, a->slot[1], 0, &t, &attrs.axis)) return fe_poison();
  return fe_node_val(fe_build(lw, AT, IR_OP_IOTA, NULL, 0, &attrs, &t));
}

/* ---- conveniences ---------------------------------------------------------------------------- */

static ir_node *mean_all(fe_lower *lw, const fe_expr *call, ir_node *x) {
  if (!x || x->type.rank == 0) return x;
  ir_attrs attrs = {.naxes = x->type.rank};
  for (int i = 0; i < x->type.rank; i++) attrs.axes[i] = i;
  return fe_build(lw, AT, IR_OP_REDUCE_MEAN, &x, 1, &attrs, NULL);
}

/* cross_entropy(logits, labels): mean over the batch of -log_softmax(logits)[label].
 * Labels are integer class indices ([batch] or [batch, 1]) or, as floats of the logits'
 * shape, probabilities (one-hot or soft targets). */
static fe_val lower_cross_entropy(fe_lower *lw, fe_scope *s, const fe_expr *call,
                                  const fe_bound_args *a, const builtin *b) {
  ir_node *logits = tensor(lw, s, a->slot[0], IR_F32);
  ir_node *labels = logits ? tensor(lw, s, a->slot[1], IR_I32) : NULL;
  if (!labels || !needs_float(lw, call, b->name, logits, a->slot[0])) return fe_poison();
  char tl[IR_TYPE_STR_MAX], tc[IR_TYPE_STR_MAX];
  const ir_type *lt = &logits->type;
  if (lt->rank == 0) {
    fe_lower_error(lw, AT, "cross_entropy needs logits with a class axis, got %s", ir_type_str(lt, tl, sizeof tl));
    return fe_poison();
  }
  int axis = lt->rank - 1;
  ir_attrs ax = {.axis = axis};
  ir_node *logp = fe_build(lw, AT, IR_OP_LOG_SOFTMAX, &logits, 1, &ax, NULL);
  if (!logp) return fe_poison();
  ir_node *picked;
  if (ir_dtype_is_float(labels->type.dtype)) {
    if (!ir_shape_equal(&labels->type, lt)) {
      fe_lower_error(lw, AT, "cross_entropy: probability labels %s do not match the logits %s",
                     ir_type_str(&labels->type, tc, sizeof tc), ir_type_str(lt, tl, sizeof tl));
      fe_note(fe_lower_ctx(lw), a->slot[1]->span, "class indices must be integers (i32 or i64)");
      return fe_poison();
    }
    if (labels->type.dtype != lt->dtype) {
      fe_lower_error(lw, AT, "cross_entropy: labels are %s but logits are %s",
                     ir_dtype_name(labels->type.dtype), ir_dtype_name(lt->dtype));
      return fe_poison();
    }
    ir_node *args[2] = {labels, logp};
    ir_node *prod = fe_build(lw, AT, IR_OP_MUL, args, 2, NULL, NULL);
    ir_attrs sum = {.naxes = 1, .axes = {axis}};
    picked = prod ? fe_build(lw, AT, IR_OP_REDUCE_SUM, &prod, 1, &sum, NULL) : NULL;
  } else {
    ir_type want = *lt;
    want.rank--;
    want.dtype = labels->type.dtype;
    ir_type with1 = want;
    with1.dims[with1.rank++] = 1;
    if (ir_shape_equal(&labels->type, &with1) && !ir_shape_equal(&labels->type, &want)) {
      labels = fe_build(lw, AT, IR_OP_RESHAPE, &labels, 1, NULL, &want); /* [batch, 1] -> [batch] */
      if (!labels) return fe_poison();
    }
    if (!ir_shape_equal(&labels->type, &want) || labels->type.dtype == IR_BOOL) {
      char tw[IR_TYPE_STR_MAX];
      want.dtype = IR_I32;
      fe_lower_error(lw, AT, "cross_entropy: labels %s do not fit logits %s (expected class indices %s)",
                     ir_type_str(&labels->type, tc, sizeof tc), ir_type_str(lt, tl, sizeof tl),
                     ir_type_str(&want, tw, sizeof tw));
      return fe_poison();
    }
    ir_node *args[2] = {logp, labels};
    picked = fe_build(lw, AT, IR_OP_GATHER, args, 2, &ax, NULL);
  }
  ir_node *m = mean_all(lw, call, picked);
  return m ? build1(lw, call, IR_OP_NEG, m, NULL, NULL) : fe_poison();
}

/* mse(pred, target): mean((pred - target)^2) over every element. The shapes must be
 * equal: [batch, 1] against [batch] would broadcast to [batch, batch] and compare every
 * prediction with every target, a classic silent bug. */
static fe_val lower_mse(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_bound_args *a,
                        const builtin *b) {
  fe_val p = fe_lower_expr(lw, s, a->slot[0]), t = fe_lower_expr(lw, s, a->slot[1]);
  if (p.kind == FV_NODE && t.kind == FV_NODE && !ir_shape_equal(&p.node->type, &t.node->type)) {
    char tp[IR_TYPE_STR_MAX], tt[IR_TYPE_STR_MAX];
    fe_lower_error(lw, AT, "mse: the prediction %s and the target %s have different shapes",
                   ir_type_str(&p.node->type, tp, sizeof tp), ir_type_str(&t.node->type, tt, sizeof tt));
    fe_note(fe_lower_ctx(lw), call->span, "reshape one of them, e.g. reshape(y, [batch, 1])");
    return fe_poison();
  }
  fe_val d = fe_binary(lw, AT, "mse", IR_OP_SUB, p, t);
  if (d.kind != FV_NODE) return fe_poison();
  if (!needs_float(lw, call, b->name, d.node, NULL)) return fe_poison();
  fe_val sq = fe_binary(lw, AT, "mse", IR_OP_MUL, d, d);
  return sq.kind == FV_NODE ? fe_node_val(mean_all(lw, call, sq.node)) : fe_poison();
}

/* ---- the table ---------------------------------------------------------------------------------- */

#define REDUCE_SIG "x, axis?, keepdims?, axes?"

static const builtin builtins[] = {
    /* elementwise unary */
    {"neg", "x", lower_unary, IR_OP_NEG},
    {"abs", "x", lower_unary, IR_OP_ABS},
    {"sign", "x", lower_unary, IR_OP_SIGN},
    {"exp", "x", lower_unary, IR_OP_EXP},
    {"log", "x", lower_unary, IR_OP_LOG},
    {"sqrt", "x", lower_unary, IR_OP_SQRT},
    {"rsqrt", "x", lower_unary, IR_OP_RSQRT},
    {"tanh", "x", lower_unary, IR_OP_TANH},
    {"sigmoid", "x", lower_unary, IR_OP_SIGMOID},
    {"relu", "x", lower_unary, IR_OP_RELU},
    {"cast", "x, dtype", lower_cast, IR_OP_CAST},
    /* elementwise binary and comparisons */
    {"add", "a, b", lower_binary, IR_OP_ADD},
    {"sub", "a, b", lower_binary, IR_OP_SUB},
    {"mul", "a, b", lower_binary, IR_OP_MUL},
    {"div", "a, b", lower_binary, IR_OP_DIV},
    {"pow", "a, b", lower_binary, IR_OP_POW},
    {"max", "a, b", lower_binary, IR_OP_MAX},
    {"min", "a, b", lower_binary, IR_OP_MIN},
    {"eq", "a, b", lower_binary, IR_OP_EQ},
    {"ne", "a, b", lower_binary, IR_OP_NE},
    {"lt", "a, b", lower_binary, IR_OP_LT},
    {"le", "a, b", lower_binary, IR_OP_LE},
    {"gt", "a, b", lower_binary, IR_OP_GT},
    {"ge", "a, b", lower_binary, IR_OP_GE},
    {"select", "cond, a, b", lower_select, IR_OP_SELECT},
    /* reductions */
    {"reduce_sum", REDUCE_SIG, lower_reduce, IR_OP_REDUCE_SUM},
    {"reduce_mean", REDUCE_SIG, lower_reduce, IR_OP_REDUCE_MEAN},
    {"reduce_max", REDUCE_SIG, lower_reduce, IR_OP_REDUCE_MAX},
    {"logsumexp", REDUCE_SIG, lower_reduce, IR_OP_LOGSUMEXP},
    {"sum", REDUCE_SIG, lower_reduce, IR_OP_REDUCE_SUM},
    {"mean", REDUCE_SIG, lower_reduce, IR_OP_REDUCE_MEAN},
    /* contraction and layout */
    {"matmul", "a, b", lower_matmul, IR_OP_MATMUL},
    {"reshape", "x, shape", lower_reshape, IR_OP_RESHAPE},
    {"transpose", "x, perm?", lower_transpose, IR_OP_TRANSPOSE},
    {"broadcast", "x, shape", lower_broadcast, IR_OP_BROADCAST},
    {"slice", "x, start, end", lower_bounds, IR_OP_SLICE},
    {"pad", "x, lo, hi", lower_bounds, IR_OP_PAD},
    {"concat", "*xs, axis?", lower_concat, IR_OP_CONCAT},
    /* labels, softmax family, sources */
    {"one_hot", "labels, depth, dtype?", lower_one_hot, IR_OP_ONE_HOT},
    {"gather", "x, indices, axis?", lower_gather, IR_OP_GATHER},
    {"softmax", "x, axis?", lower_softmax, IR_OP_SOFTMAX},
    {"log_softmax", "x, axis?", lower_softmax, IR_OP_LOG_SOFTMAX},
    {"iota", "shape, axis?, dtype?", lower_iota, IR_OP_IOTA},
    /* losses */
    {"cross_entropy", "logits, labels", lower_cross_entropy, IR_OP_LOG_SOFTMAX},
    {"mse", "pred, target", lower_mse, IR_OP_REDUCE_MEAN},
};

#define NBUILTINS (sizeof builtins / sizeof builtins[0])

static const builtin *find_builtin(const char *name) {
  for (size_t i = 0; i < NBUILTINS; i++)
    if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
  return NULL;
}

bool fe_is_builtin(const char *name) { return find_builtin(name) != NULL; }

const char *const *fe_builtin_names(void) {
  static const char *names[NBUILTINS + 1];
  for (size_t i = 0; i < NBUILTINS; i++) names[i] = builtins[i].name;
  names[NBUILTINS] = NULL;
  return names;
}

fe_val fe_lower_builtin(fe_lower *lw, fe_scope *s, const fe_expr *call) {
  const builtin *b = find_builtin(call->text);
  IR_ASSERT(b != NULL);
  fe_bound_args a;
  char what[64];
  snprintf(what, sizeof what, "'%s'", b->name);
  if (!fe_bind_args(lw, call, what, b->sig, &a)) return fe_poison();
  return b->lower(lw, s, call, &a, b);
}

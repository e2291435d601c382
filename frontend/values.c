/* Values during lowering and the operators on them: weak numbers and literals that take
 * the dtype of the tensor they meet, constants, IR nodes built through ir_build with its
 * errors turned into diagnostics, NumPy broadcasting made explicit, matrix products with
 * NumPy's vector rules, tensor literals, and the compile-time evaluation of numbers,
 * dimensions, flags and types. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fe_impl.h"

/* Elements in one tensor: far beyond any memory, far below int64 overflow and the IR
 * parser's limit (2^48). */
#define FE_MAX_ELEMENTS 1e12

fe_val fe_poison(void) { return (fe_val){.kind = FV_POISON}; }
fe_val fe_node_val(ir_node *n) { return n ? (fe_val){.kind = FV_NODE, .node = n} : fe_poison(); }

static const char *type_str(const ir_type *t, char *buf) { return ir_type_str(t, buf, IR_TYPE_STR_MAX); }

/* ---- numbers, literals and nodes ------------------------------------------------------------ */

static ir_type val_shape(fe_val v) {
  if (v.kind == FV_NODE) return v.node->type;
  if (v.kind == FV_LIT) return v.lit;
  return ir_type_scalar(IR_F32);
}

/* Whether a weak value (number or literal) fits dtype dt; reports when not. */
static bool weak_fits(fe_lower *lw, fe_val v, ir_dtype dt, fe_span at) {
  if (ir_dtype_is_float(dt)) return true;
  bool ok = v.is_int;
  if (ok && dt == IR_BOOL) {
    int64_t n = v.kind == FV_LIT ? ir_type_numel(&v.lit) : 1;
    for (int64_t i = 0; i < n; i++) {
      double x = v.kind == FV_LIT ? v.values[i] : v.num;
      ok = ok && (x == 0 || x == 1);
    }
  }
  if (!ok) {
    char num[40] = "literal";
    if (v.kind == FV_NUM) fe_format_number(v.num, num, sizeof num);
    fe_lower_error(lw, at, at, "%s %s cannot be used as %s", v.kind == FV_NUM ? "the number" : "this",
                   num, ir_dtype_name(dt));
  }
  return ok;
}

/* A const node of type `t`: one value (splat) or all of a literal's. */
static ir_node *make_const(fe_lower *lw, fe_span at, ir_type t, const double *values, int64_t n) {
  ir_attrs attrs = {.nvalues = n, .values = (double *)values};
  return fe_build(lw, at, at, IR_OP_CONST, NULL, 0, &attrs, &t);
}

ir_node *fe_to_node(fe_lower *lw, fe_val v, ir_dtype dt, fe_span at) {
  switch (v.kind) {
  case FV_POISON: return NULL;
  case FV_NODE: return v.node;
  case FV_NUM:
    if (!weak_fits(lw, v, dt, at)) return NULL;
    return make_const(lw, at, ir_type_scalar(dt), &v.num, 1);
  case FV_LIT: {
    if (!weak_fits(lw, v, dt, at)) return NULL;
    ir_type t = v.lit;
    t.dtype = dt;
    return make_const(lw, at, t, v.values, ir_type_numel(&t));
  }
  }
  return NULL;
}

/* Whether a tensor of this type is beyond what dlc handles (also keeps element counts
 * far from int64 overflow, so shape rules never multiply their way into one). */
static bool too_large(const ir_type *t) {
  double n = 1;
  for (int i = 0; i < t->rank; i++) n *= (double)t->dims[i];
  return n > FE_MAX_ELEMENTS;
}

ir_node *fe_build(fe_lower *lw, fe_span at, fe_span range, ir_opcode op, ir_node *const *args,
                  int nargs, const ir_attrs *attrs, const ir_type *given) {
  for (int i = 0; i < nargs; i++)
    if (!args[i]) return NULL;
  if (given && too_large(given)) {
    fe_lower_error(lw, at, range, "'%s' would produce a tensor that is too large", ir_ops[op].name);
    return NULL;
  }
  ir_error err = {0};
  lw->f->loc = (ir_loc){at.line, at.col};
  ir_node *n = ir_build(lw->f, op, args, nargs, attrs, given, &err);
  if (!n) {
    fe_lower_error(lw, at, range, "%s", err.msg);
  } else if (too_large(&n->type)) {
    char t[IR_TYPE_STR_MAX];
    fe_lower_error(lw, at, range, "'%s' produces a tensor that is too large (%s)", ir_ops[op].name,
                   type_str(&n->type, t));
    return NULL;
  }
  return n;
}

static ir_node *broadcast_to(fe_lower *lw, fe_span at, ir_node *x, const ir_type *shape) {
  if (!x || ir_shape_equal(&x->type, shape)) return x;
  ir_type t = *shape;
  t.dtype = x->type.dtype;
  return fe_build(lw, at, at, IR_OP_BROADCAST, &x, 1, NULL, &t);
}

/* A weak value at a broadcast shape: numbers become one splat constant of the full shape
 * (no broadcast node needed), literals a constant then a broadcast. */
static ir_node *operand(fe_lower *lw, fe_span at, fe_val v, ir_dtype dt, const ir_type *shape) {
  if (v.kind == FV_NUM) {
    if (!weak_fits(lw, v, dt, at)) return NULL;
    ir_type t = *shape;
    t.dtype = dt;
    return make_const(lw, at, t, &v.num, 1);
  }
  return broadcast_to(lw, at, fe_to_node(lw, v, dt, at), shape);
}

static double fold(ir_opcode op, double a, double b) {
  switch (op) {
  case IR_OP_ADD: return a + b;
  case IR_OP_SUB: return a - b;
  case IR_OP_MUL: return a * b;
  case IR_OP_DIV: return a / b;
  case IR_OP_POW: return pow(a, b);
  case IR_OP_MAX: return a > b ? a : b;
  case IR_OP_MIN: return a < b ? a : b;
  default: return NAN;
  }
}

fe_val fe_binary(fe_lower *lw, fe_span at, fe_span range, const char *sym, ir_opcode op,
                 fe_val a, fe_val b) {
  if (a.kind == FV_POISON || b.kind == FV_POISON) return fe_poison();
  bool arith = ir_ops[op].kind == IR_KIND_BINARY;
  if (a.kind == FV_NUM && b.kind == FV_NUM && arith) {
    double r = fold(op, a.num, b.num);
    if (!isfinite(r)) {
      fe_lower_error(lw, at, range, "'%s' of these constants is not a finite number", sym);
      return fe_poison();
    }
    bool integral = a.is_int && b.is_int && r == floor(r) && fabs(r) < 9.007199254740992e15;
    return (fe_val){.kind = FV_NUM, .num = r, .is_int = integral,
                    .uses_batch = a.uses_batch || b.uses_batch};
  }
  /* The dtype comes from the tensor operands; weak ones follow it. */
  ir_dtype dt = a.kind == FV_NODE ? a.node->type.dtype : b.kind == FV_NODE ? b.node->type.dtype : IR_F32;
  char sa[IR_TYPE_STR_MAX], sb[IR_TYPE_STR_MAX];
  ir_type ta = val_shape(a), tb = val_shape(b);
  if (a.kind == FV_NODE && b.kind == FV_NODE && ta.dtype != tb.dtype) {
    fe_lower_error(lw, at, range, "operands of '%s' have different dtypes: %s and %s", sym,
                   type_str(&ta, sa), type_str(&tb, sb));
    fe_note(lw->c, at, "convert one with cast(x, %s)", ir_dtype_name(ta.dtype));
    return fe_poison();
  }
  if ((ir_ops[op].flags & IR_F_FLOAT) && !ir_dtype_is_float(dt)) {
    ir_type t = a.kind == FV_NODE ? ta : tb;
    fe_lower_error(lw, at, range, "'%s' needs floating-point operands, but this one is %s", sym,
                   type_str(&t, sa));
    fe_note(lw->c, at, "convert it with cast(x, f32)");
    return fe_poison();
  }
  ir_type shape;
  if (!ir_broadcast_shapes(&ta, &tb, &shape)) {
    ta.dtype = a.kind == FV_NODE ? ta.dtype : dt;
    tb.dtype = b.kind == FV_NODE ? tb.dtype : dt;
    fe_lower_error(lw, at, range, "shapes of '%s' do not broadcast: %s and %s", sym,
                   type_str(&ta, sa), type_str(&tb, sb));
    return fe_poison();
  }
  if (too_large(&shape)) {
    fe_lower_error(lw, at, range, "'%s' would produce a tensor that is too large", sym);
    return fe_poison();
  }
  /* [n, 1] against [n] broadcasts to [n, n]: legal, and almost always a bug (a column of
   * predictions against a vector of targets). Warn when operands of different ranks
   * grow into something bigger than both. */
  int64_t na = ir_type_numel(&ta), nb = ir_type_numel(&tb), nr = ir_type_numel(&shape);
  if (a.kind == FV_NODE && b.kind == FV_NODE && ta.rank != tb.rank && ta.rank > 0 && tb.rank > 0 &&
      nr > na && nr > nb) {
    char sr[IR_TYPE_STR_MAX];
    shape.dtype = ta.dtype;
    fe_warning(lw->c, at, "'%s' broadcasts %s and %s to %s", sym, type_str(&ta, sa), type_str(&tb, sb),
               type_str(&shape, sr));
    fe_note(lw->c, at, "if both hold one value per example, give them the same shape with reshape(x, [...])");
  }
  ir_node *args[2] = {operand(lw, at, a, dt, &shape), NULL};
  if (!args[0]) return fe_poison();
  args[1] = operand(lw, at, b, dt, &shape);
  return fe_node_val(fe_build(lw, at, range, op, args, 2, NULL, NULL));
}

/* a @ b: [..., m, k] @ [..., k, n]. A vector operand is made a matrix and the result
 * made a vector again, as NumPy does; batch dimensions broadcast inside the matmul. */
fe_val fe_matmul(fe_lower *lw, fe_span at, fe_span range, fe_val a, fe_val b) {
  if (a.kind == FV_POISON || b.kind == FV_POISON) return fe_poison();
  if (a.kind == FV_NUM || b.kind == FV_NUM) {
    fe_lower_error(lw, at, range, "'@' multiplies matrices; use '*' to scale by a number");
    return fe_poison();
  }
  ir_dtype dt = a.kind == FV_NODE ? a.node->type.dtype : b.kind == FV_NODE ? b.node->type.dtype : IR_F32;
  ir_node *x = fe_to_node(lw, a, dt, at), *y = x ? fe_to_node(lw, b, dt, at) : NULL;
  if (!x || !y) return fe_poison();
  char sa[IR_TYPE_STR_MAX], sb[IR_TYPE_STR_MAX];
  ir_type tx = x->type, ty = y->type;
  if (tx.dtype != ty.dtype) {
    fe_lower_error(lw, at, range, "operands of '@' have different dtypes: %s and %s",
                   type_str(&tx, sa), type_str(&ty, sb));
    return fe_poison();
  }
  if (tx.rank == 0 || ty.rank == 0) {
    fe_lower_error(lw, at, range, "'@' needs operands with at least one dimension, got %s and %s",
                   type_str(&tx, sa), type_str(&ty, sb));
    return fe_poison();
  }
  int64_t k1 = tx.dims[tx.rank - 1], k2 = ty.dims[ty.rank >= 2 ? ty.rank - 2 : 0];
  if (k1 != k2) {
    fe_lower_error(lw, at, range, "matmul inner dimensions disagree: %s @ %s (%lld vs %lld)",
                   type_str(&tx, sa), type_str(&ty, sb), (long long)k1, (long long)k2);
    return fe_poison();
  }
  bool vec_x = tx.rank == 1, vec_y = ty.rank == 1;
  if (vec_x) {
    ir_type t = ir_type_make(dt, 2, (int64_t[]){1, k1});
    x = fe_build(lw, at, range, IR_OP_RESHAPE, &x, 1, NULL, &t);
  }
  if (vec_y && x) {
    ir_type t = ir_type_make(dt, 2, (int64_t[]){k2, 1});
    y = fe_build(lw, at, range, IR_OP_RESHAPE, &y, 1, NULL, &t);
  }
  ir_node *args[2] = {x, y};
  ir_node *r = x && y ? fe_build(lw, at, range, IR_OP_MATMUL, args, 2, NULL, NULL) : NULL;
  if (r && (vec_x || vec_y)) {
    /* Drop the axes the vectors gained: m when x was one, n when y was. */
    ir_type t = r->type;
    int drop_n = vec_y ? 1 : 0;
    if (vec_x) {
      t.dims[t.rank - 2] = t.dims[t.rank - 1];
      t.rank--;
      if (drop_n) t.rank--;
    } else {
      t.rank--;
    }
    r = fe_build(lw, at, range, IR_OP_RESHAPE, &r, 1, NULL, &t);
  }
  return fe_node_val(r);
}

fe_val fe_negate(fe_lower *lw, fe_span at, fe_span range, fe_val v) {
  switch (v.kind) {
  case FV_POISON: return v;
  case FV_NUM: v.num = -v.num; return v;
  case FV_LIT: {
    int64_t n = ir_type_numel(&v.lit);
    double *vals = fe_alloc(&lw->c->arena, (size_t)n * sizeof *vals);
    for (int64_t i = 0; i < n; i++) vals[i] = -v.values[i];
    v.values = vals;
    return v;
  }
  case FV_NODE: return fe_node_val(fe_build(lw, at, range, IR_OP_NEG, &v.node, 1, NULL, NULL));
  }
  return v;
}

/* ---- tensor literals ------------------------------------------------------------------------- */

/* Fills the shape from the first element of every level, then the values, checking
 * that the literal is rectangular. */
static bool literal_shape(fe_lower *lw, const fe_expr *e, ir_type *t) {
  t->rank = 0;
  t->dtype = IR_F32;
  for (const fe_expr *x = e; x->kind == EX_LIST; x = x->args[0].value) {
    if (t->rank == IR_MAX_RANK) {
      fe_lower_error(lw, x->span, x->span, "a tensor literal has at most %d dimensions", IR_MAX_RANK);
      return false;
    }
    if (x->nargs == 0) {
      fe_lower_error(lw, x->span, x->span, "empty tensor literal");
      return false;
    }
    t->dims[t->rank++] = x->nargs;
  }
  return true;
}

static bool literal_fill(fe_lower *lw, fe_scope *s, const fe_expr *e, const ir_type *t, int level,
                         double *out, int64_t *pos, bool *is_int) {
  if (level == t->rank) {
    if (e->kind == EX_LIST) {
      fe_lower_error(lw, e->span, e->span, "tensor literal is not rectangular: too many nested lists");
      return false;
    }
    double v;
    if (!fe_eval_number(lw, s, e, &v)) return false;
    *is_int = *is_int && v == floor(v);
    out[(*pos)++] = v;
    return true;
  }
  if (e->kind != EX_LIST || e->nargs != t->dims[level]) {
    fe_lower_error(lw, e->span, e->span,
                   "tensor literal is not rectangular: expected a list of %lld elements here",
                   (long long)t->dims[level]);
    return false;
  }
  for (int i = 0; i < e->nargs; i++)
    if (!literal_fill(lw, s, e->args[i].value, t, level + 1, out, pos, is_int)) return false;
  return true;
}

fe_val fe_literal(fe_lower *lw, fe_scope *s, const fe_expr *e) {
  fe_val v = {.kind = FV_LIT, .is_int = true};
  if (!literal_shape(lw, e, &v.lit)) return fe_poison();
  /* A rectangular literal has every element in the source, one character at least: a
   * larger count (from the first element of each level) cannot be, and must not be
   * allocated before the check finds out. */
  if (too_large(&v.lit) || (double)ir_type_numel(&v.lit) > (double)lw->c->len) {
    fe_lower_error(lw, e->span, e->span, "tensor literal is not rectangular");
    return fe_poison();
  }
  v.values = fe_alloc(&lw->c->arena, (size_t)ir_type_numel(&v.lit) * sizeof(double));
  int64_t pos = 0;
  if (!literal_fill(lw, s, e, &v.lit, 0, v.values, &pos, &v.is_int)) return fe_poison();
  return v;
}

/* ---- compile-time values ----------------------------------------------------------------------- */

/* The value of a constant expression (an FV_NUM); false after reporting. */
static bool eval_constant(fe_lower *lw, fe_scope *s, const fe_expr *e, fe_val *out) {
  fe_val v = fe_lower_expr(lw, s, e);
  if (v.kind == FV_POISON) return false;
  if (v.kind != FV_NUM) {
    fe_lower_error(lw, e->span, e->span, "expected a constant number here");
    return false;
  }
  *out = v;
  return true;
}

bool fe_eval_number(fe_lower *lw, fe_scope *s, const fe_expr *e, double *out) {
  fe_val v;
  if (!eval_constant(lw, s, e, &v)) return false;
  *out = v.num;
  return true;
}

/* An integer constant; `uses_batch` (may be NULL) says whether it came from the batch size. */
static bool eval_integer(fe_lower *lw, fe_scope *s, const fe_expr *e, int64_t *out, bool *uses_batch) {
  fe_val v;
  if (!eval_constant(lw, s, e, &v)) return false;
  if (v.num != floor(v.num) || fabs(v.num) > 9.007199254740992e15) {
    char num[40];
    fe_format_number(v.num, num, sizeof num);
    fe_lower_error(lw, e->span, e->span, "expected an integer, got %s", num);
    return false;
  }
  *out = (int64_t)v.num;
  if (uses_batch) *uses_batch = v.uses_batch;
  return true;
}

bool fe_eval_int(fe_lower *lw, fe_scope *s, const fe_expr *e, int64_t *out) {
  return eval_integer(lw, s, e, out, NULL);
}

bool fe_eval_ints(fe_lower *lw, fe_scope *s, const fe_expr *e, int64_t *out, int max, int *n) {
  if (e->kind != EX_LIST) {
    *n = 1;
    return fe_eval_int(lw, s, e, out);
  }
  if (e->nargs > max) {
    fe_lower_error(lw, e->span, e->span, "at most %d values are allowed here", max);
    return false;
  }
  *n = e->nargs;
  for (int i = 0; i < e->nargs; i++)
    if (!fe_eval_int(lw, s, e->args[i].value, &out[i])) return false;
  return true;
}

bool fe_eval_bool(fe_lower *lw, const fe_expr *e, bool *out) {
  if (e->kind == EX_NAME && (!strcmp(e->text, "true") || !strcmp(e->text, "false"))) {
    *out = e->text[0] == 't';
    return true;
  }
  fe_lower_error(lw, e->span, e->span, "expected true or false");
  return false;
}

static const char *const dtype_names[] = {"f32", "f64", "i32", "i64", "bool"};

bool fe_eval_dtype(fe_lower *lw, const fe_expr *e, ir_dtype *out) {
  if (e->kind == EX_NAME && ir_dtype_from_name(e->text, strlen(e->text), out)) return true;
  const char *close = e->kind == EX_NAME ? fe_closest(e->text, dtype_names, 5) : NULL;
  if (close)
    fe_lower_error(lw, e->span, e->span, "unknown dtype '%s'; did you mean '%s'?", e->text, close);
  else
    fe_lower_error(lw, e->span, e->span, "expected a dtype (f32, f64, i32, i64 or bool)");
  return false;
}

bool fe_eval_type(fe_lower *lw, fe_scope *s, const fe_type_expr *te, ir_type *out,
                  const fe_expr **batch_dim) {
  if (batch_dim) *batch_dim = NULL;
  fe_expr name = {.kind = EX_NAME, .span = te->dtype_span, .text = te->dtype};
  if (!fe_eval_dtype(lw, &name, &out->dtype)) return false;
  if (te->ndims > IR_MAX_RANK) {
    fe_lower_error(lw, te->span, te->span, "a tensor has at most %d dimensions", IR_MAX_RANK);
    return false;
  }
  out->rank = te->ndims;
  for (int i = 0; i < te->ndims; i++) {
    bool uses_batch;
    if (!eval_integer(lw, s, te->dims[i], &out->dims[i], &uses_batch)) return false;
    if (uses_batch && batch_dim && !*batch_dim) *batch_dim = te->dims[i];
    if (out->dims[i] < 1) {
      fe_lower_error(lw, te->dims[i]->span, te->dims[i]->span,
                     "a dimension must be a positive integer, got %lld", (long long)out->dims[i]);
      return false;
    }
  }
  if (too_large(out)) {
    fe_lower_error(lw, te->span, te->span, "tensor too large (more than %.0e elements)", FE_MAX_ELEMENTS);
    return false;
  }
  return true;
}

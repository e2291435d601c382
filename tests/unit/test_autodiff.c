/* Reverse and forward mode, op by op: for every differentiable op of the table, a
 * function using it on random shapes (with NumPy broadcasting and size-1 axes where the
 * op allows them) must pass the gradient check (reverse mode against central
 * differences and against forward mode, in f64). The tables of rules must cover exactly
 * the ops marked IR_F_DIFF. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ad.h"
#include "gradcheck.h"
#include "interp.h"
#include "passes.h"

/* ---- building random cases ------------------------------------------------------------- */

typedef struct {
  ir_func *f;
  uint64_t rng;
  int nargs;
} gen;

static uint64_t next(gen *g) {
  uint64_t z = (g->rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static int64_t pick(gen *g, int64_t n) { return (int64_t)(next(g) % (uint64_t)n); }

/* rank in [lo, hi], dims in 1..4 with size 1 turning up often */
static ir_type shape(gen *g, int lo, int hi) {
  ir_type t = {.dtype = IR_F64, .rank = (int)(lo + pick(g, hi - lo + 1))};
  for (int i = 0; i < t.rank; i++) t.dims[i] = pick(g, 3) == 0 ? 1 : 2 + pick(g, 3);
  return t;
}
/* a shape that broadcasts to t: some leading axes dropped, some axes set to 1 */
static ir_type partner(gen *g, const ir_type *t) {
  int drop = (int)pick(g, t->rank + 1);
  ir_type p = {.dtype = t->dtype, .rank = t->rank - drop};
  for (int i = 0; i < p.rank; i++) p.dims[i] = pick(g, 3) == 0 ? 1 : t->dims[i + drop];
  return p;
}
/* Arguments named pos* get values in [0.3, 1.5), nz* values away from zero (see init). */
static ir_node *arg(gen *g, ir_opcode role, const char *prefix, ir_type t) {
  char name[32];
  snprintf(name, sizeof name, "%s%d", prefix, g->nargs++);
  return ir_func_add_arg(g->f, role, name, t);
}
static ir_node *param(gen *g, const char *prefix, ir_type t) { return arg(g, IR_OP_PARAM, prefix, t); }

static void init_values(void *ctx, const char *name, const ir_type *t, double *x) {
  int64_t n = ir_type_numel(t);
  if (strncmp(name, "pos", 3) == 0)
    for (int64_t i = 0; i < n; i++) x[i] = 0.3 + 1.2 * fabs(x[i]);
  if (strncmp(name, "nz", 2) == 0)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] < 0 ? -0.3 + 0.7 * x[i] : 0.3 + 0.7 * x[i];
}

/* ---- one recipe per differentiable op ---------------------------------------------------- */

typedef ir_node *(*recipe)(gen *g, ir_opcode op);

static ir_node *r_unary(gen *g, ir_opcode op) {
  bool positive = op == IR_OP_LOG || op == IR_OP_SQRT || op == IR_OP_RSQRT;
  bool kink = op == IR_OP_ABS || op == IR_OP_RELU || op == IR_OP_SIGN;
  ir_node *x = param(g, positive ? "pos" : kink ? "nz" : "x", shape(g, 0, 3));
  return ir_emit_unary(g->f, op, x);
}
static ir_node *r_cast(gen *g, ir_opcode op) {
  ir_type t = shape(g, 0, 3);
  bool down = pick(g, 2);
  t.dtype = down ? IR_F64 : IR_F32;
  return ir_emit_cast(g->f, param(g, "x", t), down ? IR_F32 : IR_F64);
}
static ir_node *r_binary(gen *g, ir_opcode op) {
  ir_type s = shape(g, 1, 3), p = partner(g, &s);
  bool swap = pick(g, 2);
  const char *pa = op == IR_OP_POW ? "pos" : "a", *pb = op == IR_OP_DIV ? "nz" : "b";
  ir_node *a = param(g, pa, swap ? p : s), *b = param(g, pb, swap ? s : p);
  /* implicit broadcasting: the rules must sum each adjoint back to its operand's shape */
  return ir_emit(g->f, op, (ir_node *[]){a, b}, 2, NULL, NULL);
}
static ir_node *r_select(gen *g, ir_opcode op) {
  ir_type s = shape(g, 1, 3), pc = partner(g, &s), pb = partner(g, &s);
  pc.dtype = IR_BOOL;
  ir_node *c = arg(g, IR_OP_INPUT, "c", pc);
  return ir_emit(g->f, op, (ir_node *[]){c, param(g, "a", s), param(g, "b", pb)}, 3, NULL, NULL);
}
static ir_node *r_reduce(gen *g, ir_opcode op) {
  ir_type s = shape(g, 1, 3);
  int64_t axes[IR_MAX_RANK];
  int naxes = 0;
  for (int i = 0; i < s.rank; i++)
    if (pick(g, 2)) axes[naxes++] = i;
  if (!naxes) axes[naxes++] = pick(g, s.rank);
  return ir_emit_reduce(g->f, op, param(g, "x", s), axes, naxes, pick(g, 2));
}
static ir_node *r_matmul(gen *g, ir_opcode op) {
  int64_t m = 1 + pick(g, 3), k = 1 + pick(g, 3), n = 1 + pick(g, 3);
  ir_type ba = shape(g, 0, 2), bb = partner(g, &ba);
  if (pick(g, 2)) {
    ir_type t = ba;
    ba = bb;
    bb = t;
  }
  ir_type ta = ba, tb = bb;
  ta.dims[ta.rank++] = m;
  ta.dims[ta.rank++] = k;
  tb.dims[tb.rank++] = k;
  tb.dims[tb.rank++] = n;
  return ir_emit(g->f, op, (ir_node *[]){param(g, "a", ta), param(g, "b", tb)}, 2, NULL, NULL);
}
static ir_node *r_reshape(gen *g, ir_opcode op) {
  ir_type s = shape(g, 1, 3), to = {.dtype = s.dtype, .rank = 2, .dims = {1, ir_type_numel(&s)}};
  if (pick(g, 2)) to = (ir_type){.dtype = s.dtype, .rank = 3, .dims = {ir_type_numel(&s), 1, 1}};
  return ir_emit(g->f, op, (ir_node *[]){param(g, "x", s)}, 1, NULL, &to);
}
static ir_node *r_transpose(gen *g, ir_opcode op) {
  ir_type s = shape(g, 2, 3);
  ir_attrs a = {.naxes = s.rank};
  for (int i = 0; i < s.rank; i++) a.axes[i] = i;
  for (int i = s.rank - 1; i > 0; i--) {
    int j = (int)pick(g, i + 1);
    int64_t t = a.axes[i];
    a.axes[i] = a.axes[j];
    a.axes[j] = t;
  }
  return ir_emit(g->f, op, (ir_node *[]){param(g, "x", s)}, 1, &a, NULL);
}
static ir_node *r_broadcast(gen *g, ir_opcode op) {
  ir_type s = shape(g, 1, 3), p = partner(g, &s);
  return ir_emit(g->f, op, (ir_node *[]){param(g, "x", p)}, 1, NULL, &s);
}
static ir_node *r_slice_pad(gen *g, ir_opcode op) {
  ir_type s = shape(g, 1, 3);
  ir_attrs a = {.nbounds = s.rank};
  for (int i = 0; i < s.rank; i++) {
    if (op == IR_OP_SLICE) {
      a.lo[i] = pick(g, s.dims[i]);
      a.hi[i] = a.lo[i] + 1 + pick(g, s.dims[i] - a.lo[i]);
    } else {
      a.lo[i] = pick(g, 3);
      a.hi[i] = pick(g, 3);
    }
  }
  return ir_emit(g->f, op, (ir_node *[]){param(g, "x", s)}, 1, &a, NULL);
}
static ir_node *r_concat(gen *g, ir_opcode op) {
  ir_type s = shape(g, 1, 3);
  ir_attrs a = {.axis = pick(g, s.rank)};
  ir_node *parts[3];
  int n = 2 + (int)pick(g, 2);
  for (int i = 0; i < n; i++) {
    ir_type t = s;
    t.dims[a.axis] = 1 + pick(g, 3);
    parts[i] = param(g, "x", t);
  }
  return ir_emit(g->f, op, parts, n, &a, NULL);
}
static ir_node *r_gather(gen *g, ir_opcode op) {
  ir_type s = shape(g, 1, 3), it = {.dtype = pick(g, 2) ? IR_I32 : IR_I64};
  ir_attrs a = {.axis = pick(g, s.rank)};
  for (int i = 0; i < s.rank; i++)
    if (i != a.axis) it.dims[it.rank++] = s.dims[i];
  ir_node *x = param(g, "x", s), *idx = arg(g, IR_OP_INPUT, "idx", it);
  return ir_emit(g->f, op, (ir_node *[]){x, idx}, 2, &a, NULL);
}
static ir_node *r_softmax(gen *g, ir_opcode op) {
  ir_type s = shape(g, 1, 3);
  ir_attrs a = {.axis = pick(g, s.rank)};
  return ir_emit(g->f, op, (ir_node *[]){param(g, "x", s)}, 1, &a, NULL);
}

static const recipe recipes[IR_OP_COUNT] = {
    [IR_OP_NEG] = r_unary,        [IR_OP_ABS] = r_unary,         [IR_OP_SIGN] = r_unary,
    [IR_OP_EXP] = r_unary,        [IR_OP_LOG] = r_unary,         [IR_OP_SQRT] = r_unary,
    [IR_OP_RSQRT] = r_unary,      [IR_OP_TANH] = r_unary,        [IR_OP_SIGMOID] = r_unary,
    [IR_OP_RELU] = r_unary,       [IR_OP_CAST] = r_cast,         [IR_OP_ADD] = r_binary,
    [IR_OP_SUB] = r_binary,       [IR_OP_MUL] = r_binary,        [IR_OP_DIV] = r_binary,
    [IR_OP_POW] = r_binary,       [IR_OP_MAX] = r_binary,        [IR_OP_MIN] = r_binary,
    [IR_OP_SELECT] = r_select,    [IR_OP_REDUCE_SUM] = r_reduce, [IR_OP_REDUCE_MEAN] = r_reduce,
    [IR_OP_REDUCE_MAX] = r_reduce, [IR_OP_MATMUL] = r_matmul,    [IR_OP_RESHAPE] = r_reshape,
    [IR_OP_TRANSPOSE] = r_transpose, [IR_OP_BROADCAST] = r_broadcast, [IR_OP_SLICE] = r_slice_pad,
    [IR_OP_PAD] = r_slice_pad,    [IR_OP_CONCAT] = r_concat,     [IR_OP_GATHER] = r_gather,
    [IR_OP_SOFTMAX] = r_softmax,  [IR_OP_LOG_SOFTMAX] = r_softmax, [IR_OP_LOGSUMEXP] = r_reduce,
};

/* loss = sum(y * w) with w a random input: every element of y gets its own weight, so a
 * wrong adjoint anywhere shows. */
static ir_module *op_module(ir_opcode op, uint64_t seed) {
  ir_module *m = ir_module_create();
  gen g = {.f = ir_func_create(m, "forward"), .rng = seed * 7919 + (uint64_t)op};
  ir_node *y = recipes[op](&g, op);
  ir_node *w = arg(&g, IR_OP_INPUT, "w", y->type);
  ir_node *loss = ir_emit_binary(g.f, IR_OP_MUL, y, w);
  if (loss->type.rank) {
    int64_t axes[IR_MAX_RANK];
    for (int i = 0; i < loss->type.rank; i++) axes[i] = i;
    loss = ir_emit_reduce(g.f, IR_OP_REDUCE_SUM, loss, axes, loss->type.rank, false);
  }
  ir_func_add_output(g.f, "loss", loss);
  ir_error err = {0};
  cr_assert(ir_verify_module(m, &err), "'%s': %s", ir_ops[op].name, err.msg);
  return m;
}

static void expect_gradcheck(ir_module *m, pass_gradcheck_init init, const char *what) {
  pass_gradcheck_options o = {.seed = 5};
  pass_gradcheck_report r;
  ir_error err = {0};
  cr_assert(pass_gradcheck(m, &o, init, NULL, &r, &err), "%s: %s", what, err.msg);
  if (!r.ok) {
    char *text = ir_module_to_string(m);
    for (int i = 0; i < r.nparams; i++) {
      pass_gradcheck_param *p = &r.params[i];
      cr_expect(p->ok, "%s: %s: abs %g rel %g jvp %g jvp-fd %g\n%s", what, p->name, p->max_abs,
                p->max_rel, p->jvp_err, p->jvp_fd_err, text);
    }
    cr_expect(r.loss_err <= 1e-6, "%s: loss differs by %g", what, r.loss_err);
    free(text);
  }
  cr_expect(r.nparams > 0, "%s: nothing was checked", what);
  pass_gradcheck_report_free(&r);
}

/* ---- the tests ------------------------------------------------------------------------------ */

Test(autodiff, rule_tables_cover_exactly_the_differentiable_ops) {
  const vjp_rule *vjp = ad_vjp_rules();
  const jvp_rule *jvp = ad_jvp_rules();
  for (int op = 0; op < IR_OP_COUNT; op++) {
    bool diff = ir_ops[op].flags & IR_F_DIFF;
    cr_expect_eq(vjp[op] != NULL, diff, "'%s': VJP rule %s", ir_ops[op].name, diff ? "missing" : "for a non-differentiable op");
    cr_expect_eq(jvp[op] != NULL, diff, "'%s': JVP rule %s", ir_ops[op].name, diff ? "missing" : "for a non-differentiable op");
    cr_expect_eq(recipes[op] != NULL, diff, "'%s': no gradcheck recipe in this test", ir_ops[op].name);
  }
}

Test(autodiff, every_differentiable_op_passes_gradcheck) {
  for (int op = 0; op < IR_OP_COUNT; op++) {
    if (!(ir_ops[op].flags & IR_F_DIFF) || !recipes[op]) continue;
    for (uint64_t seed = 1; seed <= 6; seed++) {
      ir_module *m = op_module((ir_opcode)op, seed);
      char what[64];
      snprintf(what, sizeof what, "'%s' (seed %llu)", ir_ops[op].name, (unsigned long long)seed);
      expect_gradcheck(m, init_values, what);
      ir_module_destroy(m);
    }
  }
}

/* ---- composite patterns -------------------------------------------------------------------------- */

static ir_module *parse_ok(const char *text) {
  ir_error err = {0};
  ir_module *m = ir_parse(text, strlen(text), &err);
  cr_assert_not_null(m, "%d:%d: %s\n%s", err.loc.line, err.loc.col, err.msg, text);
  cr_assert(ir_verify_module(m, &err), "%s\n%s", err.msg, text);
  return m;
}

static void gradcheck_text(const char *text, const char *what) {
  ir_module *m = parse_ok(text);
  expect_gradcheck(m, NULL, what);
  ir_module_destroy(m);
}

Test(autodiff, softmax_cross_entropy) {
  /* with gather of log_softmax, and with one_hot times log_softmax */
  gradcheck_text("func @forward(%x: f32[5,3] input, %y: i32[5] input, %w: f32[3,4] param, %b: f32[4] param) {\n"
                 "  %z = matmul %x, %w : f32[5,4]\n  %bb = broadcast %b : f32[5,4]\n"
                 "  %l = add %z, %bb : f32[5,4]\n  %ls = log_softmax %l axis=1 : f32[5,4]\n"
                 "  %p = gather %ls, %y axis=1 : f32[5]\n  %m = reduce_mean %p axes=[0] : f32[]\n"
                 "  %loss = neg %m : f32[]\n  output loss = %loss\n  output prediction = %l\n}\n",
                 "gather cross-entropy");
  gradcheck_text("func @forward(%x: f32[5,3] input, %y: i64[5] input, %w: f32[3,4] param) {\n"
                 "  %l = matmul %x, %w : f32[5,4]\n  %oh = one_hot %y : f32[5,4]\n"
                 "  %lse = logsumexp %l axes=[1] keepdims : f32[5,1]\n  %ls = sub %l, %lse : f32[5,4]\n"
                 "  %t = mul %oh, %ls : f32[5,4]\n  %s = reduce_sum %t axes=[0,1] : f32[]\n"
                 "  %n = const -0.2 : f32[]\n  %loss = mul %s, %n : f32[]\n  output loss = %loss\n}\n",
                 "one_hot cross-entropy via logsumexp");
}

Test(autodiff, mse) {
  gradcheck_text("func @forward(%X: f32[10,2] input, %y: f32[10,1] input, %w: f32[2,1] param, %b: f32[1] param) {\n"
                 "  %xw = matmul %X, %w : f32[10,1]\n  %bb = broadcast %b : f32[10,1]\n"
                 "  %yhat = add %xw, %bb : f32[10,1]\n  %err = sub %yhat, %y : f32[10,1]\n"
                 "  %sq = mul %err, %err : f32[10,1]\n  %mse = reduce_mean %sq axes=[0,1] : f32[]\n"
                 "  %half = const 0.5 : f32[]\n  %loss = mul %half, %mse : f32[]\n"
                 "  output loss = %loss\n  output prediction = %yhat\n}\n",
                 "mse");
}

Test(autodiff, two_layer_net) {
  gradcheck_text("func @forward(%x: f32[6,4] input, %y: i32[6] input, %w1: f32[4,5] param, %b1: f32[5] param,\n"
                 "              %w2: f32[5,3] param, %b2: f32[3] param) {\n"
                 "  %h0 = matmul %x, %w1 : f32[6,5]\n  %h1 = add %h0, %b1 : f32[6,5]\n"
                 "  %h = tanh %h1 : f32[6,5]\n  %r = relu %h1 : f32[6,5]\n  %hr = add %h, %r : f32[6,5]\n"
                 "  %o0 = matmul %hr, %w2 : f32[6,3]\n  %o = add %o0, %b2 : f32[6,3]\n"
                 "  %ls = log_softmax %o axis=1 : f32[6,3]\n  %p = gather %ls, %y axis=1 : f32[6]\n"
                 "  %m = reduce_mean %p axes=[0] : f32[]\n  %loss = neg %m : f32[]\n"
                 "  output loss = %loss\n  output prediction = %o\n}\n",
                 "two-layer net (tanh and relu of one pre-activation: two uses)");
}

Test(autodiff, masks_and_labels_stop_gradients_quietly) {
  /* w * (w > 0) and a loss through integer labels: nothing to differentiate there */
  gradcheck_text("func @forward(%w: f32[4] param, %k: i32[4] input) {\n"
                 "  %z = const 0 : f32[]\n  %g = gt %w, %z : bool[4]\n  %m = cast %g : f32[4]\n"
                 "  %a = mul %w, %m : f32[4]\n  %kf = cast %k : f32[4]\n  %b = mul %a, %kf : f32[4]\n"
                 "  %wi = cast %w : i32[4]\n  %wf = cast %wi : f32[4]\n  %c = add %b, %wf : f32[4]\n"
                 "  %loss = reduce_sum %c axes=[0] : f32[]\n  output loss = %loss\n}\n",
                 "masks");
}

/* ---- the softmax family at ±1000 ---------------------------------------------------------------- */

static void extreme_logits(void *ctx, const char *name, const ir_type *t, double *x) {
  if (strcmp(name, "l") != 0) return;
  for (int64_t i = 0; i < ir_type_numel(t); i++) x[i] = (i % 3 == 0 ? 1000 : -1000) + 0.7 * (double)(i % 5);
}

Test(autodiff, softmax_family_stable_at_1000) {
  const char *texts[] = {
      "func @forward(%l: f32[4,3] param, %y: i32[4] input) {\n"
      "  %ls = log_softmax %l axis=1 : f32[4,3]\n  %p = gather %ls, %y axis=1 : f32[4]\n"
      "  %m = reduce_mean %p axes=[0] : f32[]\n  %loss = neg %m : f32[]\n  output loss = %loss\n}\n",
      "func @forward(%l: f32[4,3] param, %w: f32[4,3] input) {\n"
      "  %s = softmax %l axis=0 : f32[4,3]\n  %t = mul %s, %w : f32[4,3]\n"
      "  %loss = reduce_sum %t axes=[0,1] : f32[]\n  output loss = %loss\n}\n",
      "func @forward(%l: f32[4,3] param) {\n"
      "  %e = logsumexp %l axes=[0,1] : f32[]\n  output loss = %e\n}\n",
  };
  for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
    ir_module *m = parse_ok(texts[k]);
    char what[48];
    snprintf(what, sizeof what, "softmax family #%zu at +-1000", k);
    expect_gradcheck(m, extreme_logits, what);
    ir_module_destroy(m);
  }
}

Test(autodiff, cross_entropy_gradient_at_1000_is_softmax_minus_one_hot) {
  ir_module *m = parse_ok(
      "func @forward(%l: f64[2,3] param, %y: i32[2] input) {\n"
      "  %ls = log_softmax %l axis=1 : f64[2,3]\n  %p = gather %ls, %y axis=1 : f64[2]\n"
      "  %s = reduce_sum %p axes=[0] : f64[]\n  %loss = neg %s : f64[]\n  output loss = %loss\n}\n");
  ir_error err = {0};
  cr_assert(pass_run_pipeline(m, "autodiff", NULL, &err), "%s", err.msg);
  double l[6] = {1000, -1000, 999, -1000, 1000, -1000}, y[2] = {1, 2};
  ir_interp *in = ir_interp_create(ir_module_find_func(m, "gradients"));
  cr_assert(ir_interp_set_arg(in, "l", l, 6, &err) && ir_interp_set_arg(in, "y", y, 2, &err));
  cr_assert(ir_interp_run(in, &err), "%s", err.msg);
  const double *g = ir_interp_output(in, "grad.l", NULL);
  /* d loss / d l = softmax(l) - one_hot(y), per row */
  double z0 = 1 + exp(-2000) + exp(-1), z1 = exp(-2000) + 1 + exp(-2000);
  double want[6] = {1 / z0, exp(-2000) / z0 - 1, exp(-1) / z0, exp(-2000) / z1, 1 / z1, exp(-2000) / z1 - 1};
  for (int i = 0; i < 6; i++)
    cr_expect(isfinite(g[i]) && fabs(g[i] - want[i]) < 1e-12, "grad[%d] = %g, want %g", i, g[i], want[i]);
  cr_expect(isfinite(ir_interp_output(in, "loss", NULL)[0]));
  ir_interp_destroy(in);
  ir_module_destroy(m);
}

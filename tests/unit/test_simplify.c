/* The simplify pass never changes what a function computes (checked by the reference
 * interpreter on random arguments, before and after, over hand-written graphs and over
 * randomly generated ones), every rewrite of its table is exercised, the result is a
 * fixed point, and the IR it leaves verifies. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "passes.h"
#include "simplify.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static ir_module *parse_ok(const char *text) {
  ir_error err = {0};
  ir_module *m = ir_parse(text, strlen(text), &err);
  cr_assert_not_null(m, "%d:%d: %s\n%s", err.loc.line, err.loc.col, err.msg, text);
  cr_assert(ir_verify_module(m, &err), "%s\n%s", err.msg, text);
  return m;
}

/* A small deterministic generator (the tests must not depend on libc's rand). */
static uint64_t rng_state;
static double uniform(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Fills every argument of f's interpreter with values in [-2, 2] (integers for integer
 * dtypes, 0/1 for bools), the same for the same seed. */
static void fill_args(const ir_func *f, ir_interp *in, uint64_t seed) {
  rng_state = seed;
  for (int i = 0; i < f->nargs; i++) {
    const ir_node *a = f->args[i];
    double *buf = ir_interp_arg(in, a->name);
    for (int64_t j = 0; j < ir_type_numel(&a->type); j++) {
      double v = 4 * uniform() - 2;
      if (a->type.dtype == IR_BOOL) v = v > 0;
      else if (!ir_dtype_is_float(a->type.dtype)) v = round(v);
      buf[j] = v;
    }
  }
}

static void expect_close(const double *got, const double *want, int64_t n, const char *what,
                         const char *fn) {
  cr_assert(got && want, "@%s: %s missing", fn, what);
  for (int64_t i = 0; i < n; i++)
    cr_expect(fabs(got[i] - want[i]) <= 1e-9 * fmax(1, fabs(want[i])),
              "@%s: %s[%lld]: %.17g after simplify, %.17g before", fn, what, (long long)i, got[i],
              want[i]);
}

/* Runs `before` and `after` (the same function before and after simplify) on the same
 * random arguments and compares every output and update. */
static void expect_same_function(const ir_func *before, const ir_func *after, uint64_t seed) {
  ir_interp *b = ir_interp_create(before), *a = ir_interp_create(after);
  fill_args(before, b, seed);
  fill_args(after, a, seed);
  ir_error err = {0};
  cr_assert(ir_interp_run(b, &err), "@%s before: %s", before->name, err.msg);
  cr_assert(ir_interp_run(a, &err), "@%s after: %s", after->name, err.msg);
  cr_assert_eq(before->noutputs, after->noutputs);
  for (int i = 0; i < before->noutputs; i++) {
    ir_type t;
    const char *name = before->outputs[i].name;
    const double *want = ir_interp_output(b, name, &t);
    expect_close(ir_interp_output(a, name, NULL), want, ir_type_numel(&t), name, before->name);
  }
  cr_assert_eq(before->nupdates, after->nupdates);
  for (int i = 0; i < before->nupdates; i++) {
    ir_type t;
    const char *name = before->updates[i].target->name;
    const double *want = ir_interp_update(b, name, &t);
    expect_close(ir_interp_update(a, name, NULL), want, ir_type_numel(&t), name, before->name);
  }
  ir_interp_destroy(b);
  ir_interp_destroy(a);
}

/* Simplifies every function of `text`, adding to `total`; checks the result verifies,
 * computes what the original did, and is a fixed point. */
static void check_text(const char *text, simp_stats *total) {
  ir_module *orig = parse_ok(text), *m = parse_ok(text);
  ir_error err = {0};
  for (int i = 0; i < m->nfuncs; i++) {
    simp_stats st;
    cr_assert(simplify_func(m->funcs[i], &st, &err), "%s", err.msg);
    cr_assert(ir_verify_func(m->funcs[i], &err), "@%s after simplify: %s", m->funcs[i]->name, err.msg);
    for (int r = 0; r < simp_nrules; r++) total->fired[r] += st.fired[r];
    total->cse += st.cse;
    total->dce += st.dce;
    for (uint64_t seed = 1; seed <= 3; seed++) expect_same_function(orig->funcs[i], m->funcs[i], seed);
    simp_stats again;
    cr_assert(simplify_func(m->funcs[i], &again, &err), "%s", err.msg);
    int changes = again.cse + again.dce;
    for (int r = 0; r < simp_nrules; r++) changes += again.fired[r];
    cr_expect_eq(changes, 0, "@%s: a second simplify still changed %d things", m->funcs[i]->name, changes);
  }
  ir_module_destroy(orig);
  ir_module_destroy(m);
}

/* ---- hand-written graphs: every rewrite, each in a context that checks its meaning -------- */

static const char *const corpus[] = {
    /* arithmetic identities, with values flowing on so a wrong rewrite shows */
    "func @arith(%x: f32[2,3] input, %y: f32[2,3] input, %s: f32[] input) {\n"
    "  %one = const 1 : f32[2,3]\n  %zero = const 0 : f32[2,3]\n  %m1 = const -1 : f32[2,3]\n"
    "  %half = const [0.5, 0.5, 0.5, 0.5, 0.5, 0.5] : f32[2,3]\n  %three = const 3 : f32[2,3]\n"
    "  %0 = mul %x, %one : f32[2,3]\n  %1 = mul %one, %0 : f32[2,3]\n  %2 = add %1, %zero : f32[2,3]\n"
    "  %3 = add %zero, %2 : f32[2,3]\n  %4 = sub %3, %zero : f32[2,3]\n  %5 = div %4, %one : f32[2,3]\n"
    "  %6 = sub %zero, %5 : f32[2,3]\n  %7 = mul %6, %m1 : f32[2,3]\n  %8 = neg %7 : f32[2,3]\n"
    "  %9 = neg %8 : f32[2,3]\n  %10 = neg %y : f32[2,3]\n  %11 = add %9, %10 : f32[2,3]\n"
    "  %12 = add %10, %9 : f32[2,3]\n  %13 = sub %11, %10 : f32[2,3]\n  %14 = mul %13, %half : f32[2,3]\n"
    "  %15 = mul %three, %14 : f32[2,3]\n  %16 = neg %15 : f32[2,3]\n  %17 = neg %x : f32[2,3]\n"
    "  %18 = mul %17, %three : f32[2,3]\n  %19 = add %16, %16 : f32[2,3]\n  %20 = sub %18, %18 : f32[2,3]\n"
    "  %21 = mul %y, %zero : f32[2,3]\n  %22 = add %19, %20 : f32[2,3]\n  %23 = add %22, %21 : f32[2,3]\n"
    "  %24 = add %23, %12 : f32[2,3]\n  %25 = mul %s, %x : f32[2,3]\n"
    "  %26 = mul %x, %s : f32[2,3]\n  %27 = sub %25, %26 : f32[2,3]\n  %28 = add %24, %27 : f32[2,3]\n"
    "  output r = %28\n}\n",
    /* folding through every family */
    "func @fold(%x: f32[4,3] input) {\n"
    "  %a = const 2 : f32[]\n  %b = const 0.25 : f32[]\n  %c = mul %a, %b : f32[]\n"
    "  %d = broadcast %c : f32[4,3]\n  %e = reshape %d : f32[3,4]\n  %f = transpose %e perm=[1,0] : f32[4,3]\n"
    "  %g = reduce_sum %f axes=[0] keepdims : f32[1,3]\n  %h = reduce_mean %f axes=[1] : f32[4]\n"
    "  %i = matmul %f, %e : f32[4,4]\n  %j = softmax %i axis=1 : f32[4,4]\n"
    "  %k = slice %j start=[0,0] end=[4,3] : f32[4,3]\n  %l = exp %k : f32[4,3]\n"
    "  %m = mul %x, %l : f32[4,3]\n  %n = add %m, %g : f32[4,3]\n  %o = reduce_sum %n axes=[0] : f32[3]\n"
    "  %p = reduce_sum %h axes=[0] : f32[]\n  %q = mul %o, %p : f32[3]\n  %u = const [7, 7, 7] : f32[3]\n"
    "  %v = add %q, %u : f32[3]\n  %cmp = gt %o, %u : bool[3]\n  %w = select %cmp, %v, %u : f32[3]\n"
    "  %i1 = const 7 : i32[3]\n  %i2 = const 2 : i32[3]\n  %i3 = div %i1, %i2 : i32[3]\n"
    "  %i4 = cast %i3 : f32[3]\n  %z = add %w, %i4 : f32[3]\n  output r = %z\n}\n",
    /* layout identities */
    "func @layout(%x: f32[2,3,4] input, %v: f32[3] input, %r: f32[1,5] input, %c: f32[4,1] input) {\n"
    "  %0 = transpose %x perm=[1,0,2] : f32[3,2,4]\n  %1 = transpose %0 perm=[2,1,0] : f32[4,2,3]\n"
    "  %2 = transpose %1 perm=[1,2,0] : f32[2,3,4]\n  %3 = transpose %2 perm=[0,1,2] : f32[2,3,4]\n"
    "  %4 = reshape %3 : f32[6,4]\n  %5 = reshape %4 : f32[24]\n  %6 = reshape %5 : f32[2,3,4]\n"
    "  %7 = broadcast %v : f32[1,3]\n  %8 = broadcast %7 : f32[4,2,3]\n  %9 = transpose %8 perm=[1,2,0] : f32[2,3,4]\n"
    "  %10 = add %6, %9 : f32[2,3,4]\n  %11 = cast %10 : f32[2,3,4]\n  %12 = slice %11 start=[0,0,0] end=[2,3,4] : f32[2,3,4]\n"
    "  %13 = pad %12 lo=[0,0,0] hi=[0,0,0] : f32[2,3,4]\n  %14 = concat %13 axis=0 : f32[2,3,4]\n"
    "  %15 = transpose %r perm=[1,0] : f32[5,1]\n  %16 = reshape %r : f32[5]\n  %17 = broadcast %16 : f32[2,5]\n"
    "  %18 = broadcast %14 : f32[2,3,4]\n  %19 = transpose %c perm=[1,0] : f32[1,4]\n"
    "  %20 = broadcast %19 : f32[2,3,4]\n  %21 = mul %18, %20 : f32[2,3,4]\n"
    "  %22 = broadcast %v : f32[2,3]\n  %23 = broadcast %22 : f32[4,2,3]\n"
    "  output a = %21\n  output d = %23\n  output b = %15\n  output c = %17\n}\n",
    /* reductions of broadcasts */
    "func @reduce(%s: f32[] input, %x: f32[1,5] input, %y: f32[3,1] input, %z: f32[2,3] input) {\n"
    "  %0 = broadcast %s : f32[10,1]\n  %1 = reduce_sum %0 axes=[0,1] : f32[]\n"
    "  %2 = reduce_mean %0 axes=[0] : f32[1]\n  %3 = reduce_max %0 axes=[0,1] keepdims : f32[1,1]\n"
    "  %4 = broadcast %x : f32[2,3,4,5]\n  %5 = reduce_sum %4 axes=[0,2,3] : f32[3]\n"
    "  %6 = reduce_mean %4 axes=[2,3] keepdims : f32[2,3,1,1]\n  %7 = reduce_max %4 axes=[1,3] : f32[2,4]\n"
    "  %8 = broadcast %y : f32[3,4]\n  %9 = reduce_sum %8 axes=[0] : f32[4]\n"
    "  %10 = reduce_sum %8 axes=[1] keepdims : f32[3,1]\n  %11 = reduce_sum %x axes=[0] : f32[5]\n"
    "  %12 = logsumexp %y axes=[1] : f32[3]\n  %13 = broadcast %z : f32[4,2,3]\n"
    "  %14 = reduce_sum %13 axes=[1] : f32[4,3]\n"
    "  output a = %1\n  output b = %2\n  output c = %3\n  output d = %5\n  output e = %6\n"
    "  output f = %7\n  output g = %9\n  output h = %10\n  output i = %11\n  output j = %12\n"
    "  output k = %14\n}\n",
    /* CSE and DCE with updates */
    "func @cse(%a: f32[4] input, %w: f32[4] param, %m: f32[4] state) {\n"
    "  %0 = mul %a, %w : f32[4]\n  %1 = mul %w, %a : f32[4]\n  %2 = tanh %0 : f32[4]\n"
    "  %3 = tanh %1 : f32[4]\n  %4 = sub %2, %3 : f32[4]\n  %5 = exp %a : f32[4]\n"
    "  %6 = add %m, %2 : f32[4]\n  %7 = sub %w, %3 : f32[4]\n  %8 = log %5 : f32[4]\n"
    "  output loss = %4\n  update %w = %7\n  update %m = %6\n}\n",
    /* integers */
    "func @ints(%i: i32[4] input, %j: i64[2] input) {\n"
    "  %0 = const 0 : i32[4]\n  %1 = add %i, %0 : i32[4]\n  %2 = const 1 : i32[4]\n  %3 = mul %2, %1 : i32[4]\n"
    "  %4 = add %3, %3 : i32[4]\n  %5 = neg %4 : i32[4]\n  %6 = neg %5 : i32[4]\n"
    "  %7 = const 3 : i64[2]\n  %8 = const 2 : i64[2]\n  %9 = div %7, %8 : i64[2]\n  %10 = mul %j, %9 : i64[2]\n"
    "  output a = %6\n  output b = %10\n}\n",
    /* label identities: labels in [-2, 2], so some fall outside [0, depth) */
    "func @labels(%y: i32[6] input, %p: f32[6,2] input) {\n"
    "  %0 = one_hot %y : f32[6,2]\n  %1 = const -0.5 : f32[6,2]\n  %2 = mul %0, %1 : f32[6,2]\n"
    "  %3 = reduce_sum %2 axes=[1] keepdims : f32[6,1]\n  %4 = mul %p, %3 : f32[6,2]\n"
    "  %5 = sub %2, %4 : f32[6,2]\n  %6 = reduce_sum %0 axes=[1] : f32[6]\n"
    "  output a = %5\n  output b = %6\n}\n",
};

Test(simplify, keeps_meaning_and_every_rewrite_fires) {
  simp_stats total = {0};
  for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) check_text(corpus[i], &total);
  for (int r = 0; r < simp_nrules; r++)
    cr_expect(total.fired[r] > 0, "rewrite '%s' never fired: give it a case in the corpus",
              simp_rules[r].name);
  cr_expect(total.cse > 0);
  cr_expect(total.dce > 0);
}

Test(simplify, rules_have_unique_names) {
  for (int i = 0; i < simp_nrules; i++)
    for (int j = i + 1; j < simp_nrules; j++)
      cr_expect(strcmp(simp_rules[i].name, simp_rules[j].name) != 0, "%s twice", simp_rules[i].name);
  simp_stats st = {0};
  cr_expect_eq(simp_stats_fired(&st, "no-such-rule"), -1);
}

/* ---- random graphs ---------------------------------------------------------------------------- */

/* Builds a random graph over f32[2,3] values from the kinds of redundancy mechanical
 * passes leave: identity constants, sign flips, layout round trips, broadcasts reduced
 * again, duplicated expressions. Values stay finite (no division by anything but a
 * nonzero constant), which is the only assumption simplify makes. */
static ir_func *random_graph(ir_module *m, uint64_t seed) {
  rng_state = seed;
  ir_func *f = ir_func_create(m, "random");
  int64_t d23[] = {2, 3}, d32[] = {3, 2}, d6[] = {6}, d423[] = {4, 2, 3};
  ir_type t = ir_type_make(IR_F32, 2, d23), tt = ir_type_make(IR_F32, 2, d32),
          flat = ir_type_make(IR_F32, 1, d6), big = ir_type_make(IR_F32, 3, d423);
  ir_node *pool[64];
  int n = 0;
  pool[n++] = ir_func_add_arg(f, IR_OP_INPUT, "x", t);
  pool[n++] = ir_func_add_arg(f, IR_OP_INPUT, "y", t);
  ir_node *s = ir_func_add_arg(f, IR_OP_INPUT, "s", ir_type_scalar(IR_F32));
  static const double consts[] = {0, 1, -1, 2, 0.5};
  for (int step = 0; step < 40 && n < 64; step++) {
    ir_node *a = pool[(int)(uniform() * n)], *b = pool[(int)(uniform() * n)], *r = NULL;
    ir_node *c = ir_emit_const(f, t, consts[(int)(uniform() * 5)]);
    switch ((int)(uniform() * 12)) {
    case 0: r = ir_emit_binary(f, IR_OP_ADD, a, b); break;
    case 1: r = ir_emit_binary(f, IR_OP_SUB, a, b); break;
    case 2: r = ir_emit_binary(f, IR_OP_MUL, a, c); break;
    case 3: r = ir_emit_binary(f, IR_OP_MUL, c, a); break;
    case 4: r = ir_emit_binary(f, uniform() < 0.5 ? IR_OP_ADD : IR_OP_SUB, a, c); break;
    case 5: r = ir_emit_unary(f, IR_OP_NEG, a); break;
    case 6: {
      ir_attrs p = {.naxes = 2, .axes = {1, 0}};
      ir_node *tr = ir_emit(f, IR_OP_TRANSPOSE, &a, 1, &p, NULL);
      r = ir_emit(f, IR_OP_TRANSPOSE, &tr, 1, &p, NULL);
      break;
    }
    case 7: r = ir_emit_reshape(f, ir_emit_reshape(f, ir_emit_reshape(f, a, &flat), &tt), &t); break;
    case 8: {
      int64_t axes[] = {0, 1};
      ir_node *sum = ir_emit_reduce(f, IR_OP_REDUCE_SUM, ir_emit_broadcast(f, s, &t), axes, 2, false);
      r = ir_emit_binary(f, IR_OP_MUL, a, sum);
      break;
    }
    case 9: {
      int64_t axes[] = {0};
      r = ir_emit_reduce(f, uniform() < 0.5 ? IR_OP_REDUCE_MEAN : IR_OP_REDUCE_SUM,
                         ir_emit_broadcast(f, a, &big), axes, 1, false);
      break;
    }
    case 10: r = ir_emit_unary(f, IR_OP_TANH, a); break;
    default: r = ir_emit_unary(f, IR_OP_TANH, ir_emit_binary(f, IR_OP_MUL, b, a)); break;
    }
    pool[n++] = r;
  }
  ir_func_add_output(f, "last", pool[n - 1]);
  ir_func_add_output(f, "middle", pool[n / 2]);
  return f;
}

Test(simplify, random_graphs_keep_their_meaning) {
  for (uint64_t seed = 1; seed <= 60; seed++) {
    ir_module *a = ir_module_create(), *b = ir_module_create();
    ir_func *before = random_graph(a, seed), *after = random_graph(b, seed);
    ir_error err = {0};
    simp_stats st;
    cr_assert(simplify_func(after, &st, &err), "seed %llu: %s", (unsigned long long)seed, err.msg);
    cr_assert(ir_verify_func(after, &err), "seed %llu: %s", (unsigned long long)seed, err.msg);
    cr_expect(after->nbody <= before->nbody, "seed %llu: simplify grew the graph", (unsigned long long)seed);
    expect_same_function(before, after, seed * 7919);
    ir_module_destroy(a);
    ir_module_destroy(b);
  }
}

/* The pass as the pipeline runs it: every function of the module. */
Test(simplify, pass_simplifies_every_function) {
  ir_module *m = parse_ok("func @a(%x: f32[2] input) {\n  %0 = neg %x : f32[2]\n  %1 = neg %0 : f32[2]\n"
                          "  output r = %1\n}\n"
                          "func @b(%x: f32[2] input) {\n  %0 = const 1 : f32[2]\n  %1 = mul %x, %0 : f32[2]\n"
                          "  output r = %1\n}\n");
  ir_error err = {0};
  cr_assert(pass_run_pipeline(m, "simplify", NULL, &err), "%s", err.msg);
  for (int i = 0; i < m->nfuncs; i++) {
    cr_expect_eq(m->funcs[i]->nbody, 0, "@%s still has %d nodes", m->funcs[i]->name, m->funcs[i]->nbody);
    cr_expect_eq(m->funcs[i]->outputs[0].value, m->funcs[i]->args[0]);
  }
  ir_module_destroy(m);
}

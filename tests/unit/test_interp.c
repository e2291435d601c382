/* The reference interpreter: every op of the table has a kernel, each kernel computes
 * what the op means (checked against values worked out by hand or by a naive loop
 * written here), the softmax family is stable at ±1000, and the by-name API reports
 * misuse instead of crashing. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"

/* ---- helpers ------------------------------------------------------------------------- */

static ir_module *parse_ok(const char *text) {
  ir_error err = {0};
  ir_module *m = ir_parse(text, strlen(text), &err);
  cr_assert_not_null(m, "%d:%d: %s\n%s", err.loc.line, err.loc.col, err.msg, text);
  cr_assert(ir_verify_module(m, &err), "%s\n%s", err.msg, text);
  return m;
}

/* Parses a module with one function @f, sets its arguments in order from `args` (one
 * array per argument), runs it, and returns the interpreter (and the module in *mp). */
static ir_interp *run_text(const char *text, const double *const *args, ir_module **mp) {
  ir_module *m = parse_ok(text);
  ir_func *f = ir_module_find_func(m, "f");
  cr_assert_not_null(f);
  ir_interp *in = ir_interp_create(f);
  ir_error err = {0};
  for (int i = 0; i < f->nargs; i++)
    cr_assert(ir_interp_set_arg(in, f->args[i]->name, args[i], ir_type_numel(&f->args[i]->type), &err),
              "%s", err.msg);
  cr_assert(ir_interp_run(in, &err), "run: %s", err.msg);
  *mp = m;
  return in;
}

static void expect_values(const double *got, const double *want, int n, double tol, const char *what) {
  cr_assert_not_null(got, "%s: no value", what);
  for (int i = 0; i < n; i++)
    cr_expect(fabs(got[i] - want[i]) <= tol * fmax(1, fabs(want[i])), "%s[%d]: got %.17g, want %.17g",
              what, i, got[i], want[i]);
}

/* Runs `text` on args and compares output `out` with want. */
static void check(const char *text, const double *const *args, const char *out, const double *want,
                  int n) {
  ir_module *m;
  ir_interp *in = run_text(text, args, &m);
  expect_values(ir_interp_output(in, out, NULL), want, n, 1e-12, out);
  ir_interp_destroy(in);
  ir_module_destroy(m);
}

/* ---- every op has a kernel ------------------------------------------------------------- */

Test(interp, every_op_has_a_kernel) {
  /* A node of each op with operands of a fitting kind; the kernel table must answer for
   * each one, whatever it computes (the tests below check what). */
  ir_module *m = ir_module_create();
  ir_func *f = ir_func_create(m, "f");
  int64_t d23[] = {2, 3}, d2[] = {2}, d32[] = {3, 2};
  ir_node *x = ir_func_add_arg(f, IR_OP_INPUT, "x", ir_type_make(IR_F32, 2, d23));
  ir_node *lab = ir_func_add_arg(f, IR_OP_INPUT, "lab", ir_type_make(IR_I32, 1, d2));
  ir_node *w = ir_func_add_arg(f, IR_OP_PARAM, "w", ir_type_make(IR_F32, 2, d32));
  ir_node *c = ir_emit_binary(f, IR_OP_GT, x, x);
  double two = 2;
  for (int op = 0; op < IR_OP_COUNT; op++) {
    const ir_op_info *info = &ir_ops[op];
    ir_node *n = NULL;
    ir_attrs a = {0};
    ir_type t = x->type;
    switch (info->kind) {
    case IR_KIND_ARG: continue;
    case IR_KIND_SOURCE:
      a = (ir_attrs){.nvalues = 1, .values = &two, .axis = 1};
      n = ir_emit(f, op, NULL, 0, &a, &t);
      break;
    case IR_KIND_UNARY: n = ir_emit(f, op, &x, 1, NULL, info->flags & IR_F_TYPE_GIVEN ? &t : NULL); break;
    case IR_KIND_BINARY:
    case IR_KIND_COMPARE: n = ir_emit_binary(f, op, x, x); break;
    case IR_KIND_SELECT: n = ir_emit(f, op, (ir_node *[]){c, x, x}, 3, NULL, NULL); break;
    case IR_KIND_REDUCE: n = ir_emit_reduce(f, op, x, (int64_t[]){1}, 1, false); break;
    case IR_KIND_CONTRACT: n = ir_emit(f, op, (ir_node *[]){x, w}, 2, NULL, NULL); break;
    case IR_KIND_SOFTMAX: a.axis = 1; n = ir_emit(f, op, &x, 1, &a, NULL); break;
    case IR_KIND_LABEL:
      if (info->arity == 1) {
        t = ir_type_make(IR_F32, 2, (int64_t[]){2, 4});
        n = ir_emit(f, op, &lab, 1, NULL, &t);
      } else {
        a.axis = 1;
        n = ir_emit(f, op, (ir_node *[]){x, lab}, 2, &a, NULL);
      }
      break;
    case IR_KIND_LAYOUT:
      a = (ir_attrs){.naxes = 2, .axes = {1, 0}, .nbounds = 2, .lo = {0, 1}, .hi = {2, 3}, .axis = 1};
      t = op == IR_OP_RESHAPE ? ir_type_make(IR_F32, 2, d32) : ir_type_make(IR_F32, 3, (int64_t[]){4, 2, 3});
      n = ir_emit(f, op, &x, 1, &a, info->flags & IR_F_TYPE_GIVEN ? &t : NULL);
      break;
    }
    cr_assert_not_null(n, "no recipe for the kind of '%s'", info->name);
    ir_func_add_output(f, info->name, n);
  }
  ir_interp *in = ir_interp_create(f);
  ir_interp_arg(in, "lab")[1] = 2;
  ir_error err = {0};
  cr_assert(ir_interp_run(in, &err), "%s", err.msg);
  for (int op = 0; op < IR_OP_COUNT; op++)
    if (ir_ops[op].kind != IR_KIND_ARG)
      cr_expect_not_null(ir_interp_output(in, ir_ops[op].name, NULL), "'%s' has no value", ir_ops[op].name);
  ir_interp_destroy(in);
  ir_module_destroy(m);
}

/* ---- what the kernels compute -------------------------------------------------------------- */

Test(interp, sources) {
  check("func @f() {\n  %0 = iota axis=1 : i32[2,3]\n  output o = %0\n}\n", NULL, "o",
        (double[]){0, 1, 2, 0, 1, 2}, 6);
  check("func @f() {\n  %0 = iota axis=0 : f32[2,3]\n  output o = %0\n}\n", NULL, "o",
        (double[]){0, 0, 0, 1, 1, 1}, 6);
  check("func @f() {\n  %0 = const [1, 2, 3, 4] : f32[2,2]\n  output o = %0\n}\n", NULL, "o",
        (double[]){1, 2, 3, 4}, 4);
  check("func @f() {\n  %0 = const 0.5 : f64[3]\n  output o = %0\n}\n", NULL, "o", (double[]){0.5, 0.5, 0.5}, 3);
}

Test(interp, unary) {
  const double x[] = {-2, -0.5, 0, 0.5, 2, 30};
  const double *args[] = {x};
  struct { const char *op; double (*ref)(double); } cases[] = {
      {"exp", exp}, {"tanh", tanh}, {"abs", fabs},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char text[256];
    snprintf(text, sizeof text, "func @f(%%x: f64[6] input) {\n  %%0 = %s %%x : f64[6]\n  output o = %%0\n}\n",
             cases[k].op);
    double want[6];
    for (int i = 0; i < 6; i++) want[i] = cases[k].ref(x[i]);
    check(text, args, "o", want, 6);
  }
  check("func @f(%x: f64[6] input) {\n  %0 = neg %x : f64[6]\n  output o = %0\n}\n", args, "o",
        (double[]){2, 0.5, 0, -0.5, -2, -30}, 6);
  check("func @f(%x: f64[6] input) {\n  %0 = sign %x : f64[6]\n  output o = %0\n}\n", args, "o",
        (double[]){-1, -1, 0, 1, 1, 1}, 6);
  check("func @f(%x: f64[6] input) {\n  %0 = relu %x : f64[6]\n  output o = %0\n}\n", args, "o",
        (double[]){0, 0, 0, 0.5, 2, 30}, 6);
  /* sigmoid stays finite and exact far out on both sides */
  const double big[] = {-800, -30, 0, 30, 800, 1};
  check("func @f(%x: f64[6] input) {\n  %0 = sigmoid %x : f64[6]\n  output o = %0\n}\n",
        (const double *[]){big}, "o",
        (double[]){0, 1 / (1 + exp(30)), 0.5, 1 / (1 + exp(-30)), 1, 1 / (1 + exp(-1))}, 6);
  const double pos[] = {0.25, 1, 4, 9};
  check("func @f(%x: f32[4] input) {\n  %0 = sqrt %x : f32[4]\n  %1 = rsqrt %x : f32[4]\n"
        "  %2 = log %x : f32[4]\n  %3 = concat %0, %1, %2 axis=0 : f32[12]\n  output o = %3\n}\n",
        (const double *[]){pos}, "o",
        (double[]){0.5, 1, 2, 3, 2, 1, 0.5, 1 / 3.0, log(0.25), 0, log(4), log(9)}, 12);
}

Test(interp, casts_and_integers) {
  const double x[] = {-2.7, -0.5, 0, 0.5, 2.7, 3};
  /* f -> i truncates toward zero, -> bool is x != 0, integer division truncates (by zero: 0) */
  check("func @f(%x: f32[6] input) {\n  %0 = cast %x : i32[6]\n  output o = %0\n}\n", (const double *[]){x},
        "o", (double[]){-2, 0, 0, 0, 2, 3}, 6);
  check("func @f(%x: f32[6] input) {\n  %0 = cast %x : bool[6]\n  output o = %0\n}\n", (const double *[]){x},
        "o", (double[]){1, 1, 0, 1, 1, 1}, 6);
  const double a[] = {7, -7, 9, 5}, b[] = {2, 2, 3, 0};
  check("func @f(%a: i32[4] input, %b: i32[4] input) {\n  %0 = div %a, %b : i32[4]\n  output o = %0\n}\n",
        (const double *[]){a, b}, "o", (double[]){3, -3, 3, 0}, 4); /* by zero: 0, as compiled code gives */
}

Test(interp, binary_broadcasts) {
  const double a[] = {1, 2, 3, 4, 5, 6}, b[] = {10, 20, 30}, col[] = {100, 200};
  const double *args[] = {a, b, col};
  const char *head = "func @f(%a: f64[2,3] input, %b: f64[3] input, %c: f64[2,1] input) {\n";
  char text[512];
  snprintf(text, sizeof text, "%s  %%0 = add %%a, %%b : f64[2,3]\n  %%1 = sub %%0, %%c : f64[2,3]\n"
           "  output o = %%1\n}\n", head);
  check(text, args, "o", (double[]){-89, -78, -67, -186, -175, -164}, 6);
  snprintf(text, sizeof text, "%s  %%0 = div %%b, %%a : f64[2,3]\n  %%1 = pow %%a, %%c : f64[2,3]\n"
           "  %%2 = max %%a, %%b : f64[2,3]\n  %%3 = min %%c, %%b : f64[2,3]\n"
           "  output q = %%0\n  output p = %%1\n  output mx = %%2\n  output mn = %%3\n}\n", head);
  check(text, args, "q", (double[]){10, 10, 10, 2.5, 4, 5}, 6);
  check(text, args, "p", (double[]){1, pow(2, 100), pow(3, 100), pow(4, 200), pow(5, 200), pow(6, 200)}, 6);
  check(text, args, "mx", (double[]){10, 20, 30, 10, 20, 30}, 6);
  check(text, args, "mn", (double[]){10, 20, 30, 10, 20, 30}, 6);
}

Test(interp, compare_and_select) {
  const double a[] = {1, 5, 3, 3}, b[] = {3, 3, 3, 3};
  const char *text =
      "func @f(%a: f32[4] input, %b: f32[4] input) {\n"
      "  %eq = eq %a, %b : bool[4]\n  %ne = ne %a, %b : bool[4]\n  %lt = lt %a, %b : bool[4]\n"
      "  %le = le %a, %b : bool[4]\n  %gt = gt %a, %b : bool[4]\n  %ge = ge %a, %b : bool[4]\n"
      "  %s = select %gt, %a, %b : f32[4]\n"
      "  output eq = %eq\n  output ne = %ne\n  output lt = %lt\n  output le = %le\n"
      "  output gt = %gt\n  output ge = %ge\n  output s = %s\n}\n";
  const double *args[] = {a, b};
  check(text, args, "eq", (double[]){0, 0, 1, 1}, 4);
  check(text, args, "ne", (double[]){1, 1, 0, 0}, 4);
  check(text, args, "lt", (double[]){1, 0, 0, 0}, 4);
  check(text, args, "le", (double[]){1, 0, 1, 1}, 4);
  check(text, args, "gt", (double[]){0, 1, 0, 0}, 4);
  check(text, args, "ge", (double[]){0, 1, 1, 1}, 4);
  check(text, args, "s", (double[]){3, 5, 3, 3}, 4);
}

Test(interp, reductions) {
  /* x[2,3,2] = 0..11 */
  double x[12];
  for (int i = 0; i < 12; i++) x[i] = i;
  const char *text =
      "func @f(%x: f64[2,3,2] input) {\n"
      "  %s = reduce_sum %x axes=[1] : f64[2,2]\n"
      "  %m = reduce_mean %x axes=[0,2] keepdims : f64[1,3,1]\n"
      "  %x2 = reduce_max %x axes=[0,1,2] : f64[]\n"
      "  %l = logsumexp %x axes=[2] : f64[2,3]\n"
      "  output s = %s\n  output m = %m\n  output mx = %x2\n  output l = %l\n}\n";
  const double *args[] = {x};
  check(text, args, "s", (double[]){0 + 2 + 4, 1 + 3 + 5, 6 + 8 + 10, 7 + 9 + 11}, 4);
  check(text, args, "m", (double[]){(0 + 1 + 6 + 7) / 4.0, (2 + 3 + 8 + 9) / 4.0, (4 + 5 + 10 + 11) / 4.0}, 3);
  check(text, args, "mx", (double[]){11}, 1);
  double l[6];
  for (int i = 0; i < 6; i++) l[i] = log(exp(x[2 * i]) + exp(x[2 * i + 1]));
  check(text, args, "l", l, 6);
}

Test(interp, matmul_batch_broadcast) {
  /* a[2,1,2,3] @ b[3,3,2]: batch [2,1] with [3] -> [2,3]; compared with a naive loop */
  double a[12], b[18], want[2 * 3 * 2 * 2];
  for (int i = 0; i < 12; i++) a[i] = i * 0.5 - 2;
  for (int i = 0; i < 18; i++) b[i] = (i % 5) - 1.5;
  for (int p = 0; p < 2; p++)
    for (int q = 0; q < 3; q++)
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
          double s = 0;
          for (int k = 0; k < 3; k++) s += a[p * 6 + i * 3 + k] * b[q * 6 + k * 2 + j];
          want[((p * 3 + q) * 2 + i) * 2 + j] = s;
        }
  check("func @f(%a: f32[2,1,2,3] input, %b: f32[3,3,2] input) {\n"
        "  %0 = matmul %a, %b : f32[2,3,2,2]\n  output o = %0\n}\n",
        (const double *[]){a, b}, "o", want, 24);
}

Test(interp, layout) {
  double x[6] = {1, 2, 3, 4, 5, 6}; /* [2,3] */
  const char *text =
      "func @f(%x: f32[2,3] input, %y: f32[2,1] input) {\n"
      "  %t = transpose %x perm=[1,0] : f32[3,2]\n"
      "  %r = reshape %x : f32[3,2]\n"
      "  %b = broadcast %y : f32[2,2,3]\n"
      "  %s = slice %x start=[1,1] end=[2,3] : f32[1,2]\n"
      "  %p = pad %s lo=[1,0] hi=[0,1] : f32[2,3]\n"
      "  %c = concat %x, %y, %x axis=1 : f32[2,7]\n"
      "  output t = %t\n  output r = %r\n  output b = %b\n  output s = %s\n  output p = %p\n"
      "  output c = %c\n}\n";
  double y[2] = {7, 8};
  const double *args[] = {x, y};
  check(text, args, "t", (double[]){1, 4, 2, 5, 3, 6}, 6);
  check(text, args, "r", (double[]){1, 2, 3, 4, 5, 6}, 6);
  check(text, args, "b", (double[]){7, 7, 7, 8, 8, 8, 7, 7, 7, 8, 8, 8}, 12);
  check(text, args, "s", (double[]){5, 6}, 2);
  check(text, args, "p", (double[]){0, 0, 0, 5, 6, 0}, 6);
  check(text, args, "c", (double[]){1, 2, 3, 7, 1, 2, 3, 4, 5, 6, 8, 4, 5, 6}, 14);
}

Test(interp, labels) {
  double x[6] = {1, 2, 3, 4, 5, 6}, lab[2] = {2, 0}, lab3[3] = {1, 0, 1};
  const char *text =
      "func @f(%x: f32[2,3] input, %l: i32[2] input, %k: i64[3] input) {\n"
      "  %o = one_hot %l : f32[2,4]\n"
      "  %g = gather %x, %l axis=1 : f32[2]\n"
      "  %h = gather %x, %k axis=0 : f32[3]\n"
      "  output o = %o\n  output g = %g\n  output h = %h\n}\n";
  const double *args[] = {x, lab, lab3};
  check(text, args, "o", (double[]){0, 0, 1, 0, 1, 0, 0, 0}, 8);
  check(text, args, "g", (double[]){3, 4}, 2);
  check(text, args, "h", (double[]){4, 2, 6}, 3);
  /* a label out of range: one_hot gives a row of zeros, gather is an error at its node */
  double bad[2] = {5, 0};
  ir_module *m = parse_ok("func @f(%x: f32[2,3] input, %l: i32[2] input) {\n"
                          "  %o = one_hot %l : f32[2,4]\n"
                          "  %g = gather %x, %l axis=1 : f32[2] loc(3:7)\n"
                          "  output o = %o\n  output g = %g\n}\n");
  ir_interp *in = ir_interp_create(ir_module_find_func(m, "f"));
  ir_error err = {0};
  cr_assert(ir_interp_set_arg(in, "l", bad, 2, &err));
  cr_assert_not(ir_interp_run(in, &err));
  cr_expect(strstr(err.msg, "gather index 5 is out of range [0, 3)") != NULL, "%s", err.msg);
  cr_expect_eq(err.loc.line, 3);
  cr_expect_eq(err.loc.col, 7);
  ir_interp_destroy(in);
  ir_module_destroy(m);
}

Test(interp, softmax_family_is_stable) {
  /* logits of ±1000 (exp overflows a double at ~709) */
  double x[6] = {1000, -1000, 999, -1000, -1001, -999};
  const char *text =
      "func @f(%x: f64[2,3] input) {\n"
      "  %s = softmax %x axis=1 : f64[2,3]\n"
      "  %l = log_softmax %x axis=1 : f64[2,3]\n"
      "  %e = logsumexp %x axes=[1] : f64[2]\n"
      "  %c = softmax %x axis=0 : f64[2,3]\n"
      "  output s = %s\n  output l = %l\n  output e = %e\n  output c = %c\n}\n";
  const double *args[] = {x};
  double z0 = 1 + exp(-2000) + exp(-1), z1 = exp(-1) + exp(-2) + 1;
  check(text, args, "s", (double[]){1 / z0, 0, exp(-1) / z0, exp(-1) / z1, exp(-2) / z1, 1 / z1}, 6);
  check(text, args, "l", (double[]){-log(z0), -2000 - log(z0), -1 - log(z0), -1 - log(z1), -2 - log(z1), -log(z1)}, 6);
  check(text, args, "e", (double[]){1000 + log(z0), -999 + log(z1)}, 2);
  check(text, args, "c", (double[]){1, 1 / (1 + exp(-1)), 1, 0, 1 / (1 + exp(1)), 0}, 6);
}

/* ---- the API ---------------------------------------------------------------------------------- */

Test(interp, by_name_updates_and_reruns) {
  ir_module *m = parse_ok("func @f(%w: f32[2] param, %g: f32[2] input) {\n"
                          "  %lr = const 0.5 : f32[]\n  %s = mul %g, %lr : f32[2]\n"
                          "  %n = sub %w, %s : f32[2]\n  %l = reduce_sum %n axes=[0] : f32[]\n"
                          "  output loss = %l\n  update %w = %n\n}\n");
  ir_interp *in = ir_interp_create(ir_module_find_func(m, "f"));
  ir_error err = {0};
  cr_assert_null(ir_interp_output(in, "loss", NULL), "no output before a run");
  cr_assert(ir_interp_set_arg(in, "w", (double[]){1, 2}, 2, &err));
  double *g = ir_interp_arg(in, "g");
  g[0] = 4;
  g[1] = -2;
  cr_assert(ir_interp_run(in, &err), "%s", err.msg);
  ir_type t;
  expect_values(ir_interp_update(in, "w", &t), (double[]){-1, 3}, 2, 0, "update");
  cr_expect_eq(t.rank, 1);
  expect_values(ir_interp_output(in, "loss", NULL), (double[]){2}, 1, 0, "loss");
  cr_expect_null(ir_interp_output(in, "nope", NULL));
  cr_expect_null(ir_interp_update(in, "g", NULL));
  g[1] = 0; /* arguments persist: change one, run again */
  cr_assert(ir_interp_run(in, &err));
  expect_values(ir_interp_output(in, "loss", NULL), (double[]){1}, 1, 0, "loss after rerun");

  cr_expect_not(ir_interp_set_arg(in, "w", (double[]){1, 2, 3}, 3, &err));
  cr_expect(strstr(err.msg, "2 values expected, got 3") != NULL, "%s", err.msg);
  cr_expect_not(ir_interp_set_arg(in, "nope", (double[]){1}, 1, &err));
  cr_expect(strstr(err.msg, "no argument %nope") != NULL, "%s", err.msg);
  cr_expect_null(ir_interp_arg(in, "nope"));
  ir_interp_destroy(in);
  ir_module_destroy(m);
}

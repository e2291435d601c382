/* What the frontend's IR computes, checked by running it in the reference interpreter
 * against values worked out here by hand or by plain loops (linear regression's loss,
 * cross-entropy, mse, vector matmul, the layout functions), and how it is built:
 * explicit broadcasts, a location on every node, x^2 as a multiply, argument order,
 * names of inlined parameters, and the canonical meta text. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"
#include "interp.h"

static ir_module *compile_ok(const char *src) {
  fe_diagnostics d;
  fe_diagnostics_init(&d);
  ir_module *m = fe_compile("t.def", src, strlen(src), NULL, &d);
  cr_assert_not_null(m, "%d:%d: %s\n%s", d.count ? d.items[0].line : 0, d.count ? d.items[0].col : 0,
                     d.count ? d.items[0].message : "?", src);
  fe_diagnostics_free(&d);
  return m;
}

/* The first error's message for a model that must not compile. */
static char *first_error(const char *src) {
  fe_diagnostics d;
  fe_diagnostics_init(&d);
  ir_module *m = fe_compile("t.def", src, strlen(src), NULL, &d);
  cr_assert_null(m, "compiled, but should not have:\n%s", src);
  cr_assert_gt(d.nerrors, 0);
  char *msg = NULL;
  for (int i = 0; i < d.count && !msg; i++)
    if (d.items[i].severity == FE_ERROR) msg = strdup(d.items[i].message);
  fe_diagnostics_free(&d);
  return msg;
}

static ir_func *forward(ir_module *m) { return ir_module_find_func(m, "forward"); }

static ir_interp *run(ir_module *m, const char *const *names, const double *const *vals) {
  ir_func *f = forward(m);
  ir_interp *in = ir_interp_create(f);
  ir_error err = {0};
  for (int i = 0; names[i]; i++) {
    ir_node *a = ir_func_find_arg(f, names[i]);
    cr_assert_not_null(a, "no argument %s", names[i]);
    cr_assert(ir_interp_set_arg(in, names[i], vals[i], ir_type_numel(&a->type), &err), "%s", err.msg);
  }
  cr_assert(ir_interp_run(in, &err), "%s", err.msg);
  return in;
}

static int count_op(const ir_func *f, ir_opcode op) {
  int n = 0;
  for (int i = 0; i < f->nbody; i++) n += f->body[i]->op == op;
  return n;
}

/* Evaluates `expr` (over X: f32[2, 3] = 1..6) as the model's output. */
static const double *eval_expr(const char *expr, ir_type *type, ir_module **mp, ir_interp **ip) {
  char src[512];
  snprintf(src, sizeof src, "input X: f32[2, 3]\nr = %s\noutput r\nloss mean(cast(r, f32))\n", expr);
  *mp = compile_ok(src);
  static const double x[6] = {1, 2, 3, 4, 5, 6};
  *ip = run(*mp, (const char *[]){"X", NULL}, (const double *[]){x});
  return ir_interp_output(*ip, "prediction", type);
}

static void expect(const char *expr, int rank, const int64_t *dims, const double *want, int n) {
  ir_module *m;
  ir_interp *in;
  ir_type t;
  const double *got = eval_expr(expr, &t, &m, &in);
  cr_assert_eq(t.rank, rank, "%s: rank %d", expr, t.rank);
  for (int i = 0; i < rank; i++) cr_assert_eq(t.dims[i], dims[i], "%s: dim %d", expr, i);
  for (int i = 0; i < n; i++) cr_assert_float_eq(got[i], want[i], 1e-9, "%s [%d]: %g vs %g", expr, i, got[i], want[i]);
  ir_interp_destroy(in);
  ir_module_destroy(m);
}

Test(lower, linreg_loss_matches_a_hand_computation) {
  char path[512];
  snprintf(path, sizeof path, "%s/examples/linreg.def", DLC_SOURCE_DIR);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  char src[4096];
  size_t len = fread(src, 1, sizeof src - 1, f);
  src[len] = '\0';
  fclose(f);
  ir_module *m = compile_ok(src);
  double X[20], y[10], w[2] = {0.5, -1.5}, b[1] = {0.25};
  for (int i = 0; i < 20; i++) X[i] = sin(i + 1.0);
  for (int i = 0; i < 10; i++) y[i] = cos(i * 0.7);
  ir_interp *in = run(m, (const char *[]){"X", "y", "w", "b", NULL}, (const double *[]){X, y, w, b});
  double loss = 0;
  for (int i = 0; i < 10; i++) {
    double yhat = X[2 * i] * w[0] + X[2 * i + 1] * w[1] + b[0];
    loss += (yhat - y[i]) * (yhat - y[i]);
    cr_assert_float_eq(ir_interp_output(in, "prediction", NULL)[i], yhat, 1e-12);
  }
  loss = 0.5 * loss / 10;
  cr_assert_float_eq(ir_interp_output(in, "loss", NULL)[0], loss, 1e-12);
  ir_interp_destroy(in);
  ir_module_destroy(m);
}

Test(lower, broadcasts_are_explicit_and_every_node_has_a_location) {
  ir_module *m = compile_ok("batch = 4\ninput X: f32[batch, 3]\nparam b: f32[3] = zeros\n"
                            "h = X * 2 + b - [1, 2, 3]\nc = select(gt(h, 0), h, 0)\n"
                            "output c\nloss mean(c)\n");
  ir_func *f = forward(m);
  cr_assert_gt(count_op(f, IR_OP_BROADCAST), 0);
  for (int i = 0; i < f->nbody; i++) {
    ir_node *n = f->body[i];
    cr_assert_gt(n->loc.line, 0, "node %d (%s) has no location", i, ir_ops[n->op].name);
    if (ir_op_is_elementwise(n->op))
      for (int a = 0; a < n->nargs; a++)
        cr_assert(ir_shape_equal(&n->args[a]->type, &n->type), "%s has an implicitly broadcast operand",
                  ir_ops[n->op].name);
  }
  ir_module_destroy(m);
}

Test(lower, squaring_is_a_multiply_and_other_powers_are_pow) {
  ir_module *m = compile_ok("input X: f32[3]\noutput X ^ 2\nloss mean(X ^ 3)\n");
  cr_assert_eq(count_op(forward(m), IR_OP_MUL), 1);
  cr_assert_eq(count_op(forward(m), IR_OP_POW), 1);
  ir_module_destroy(m);
  expect("X ^ 2", 2, (int64_t[]){2, 3}, (double[]){1, 4, 9, 16, 25, 36}, 6);
  expect("-X ^ 2", 2, (int64_t[]){2, 3}, (double[]){-1, -4, -9, -16, -25, -36}, 6);
  expect("2 ^ 3 * X", 2, (int64_t[]){2, 3}, (double[]){8, 16, 24, 32, 40, 48}, 6);
}

Test(lower, arguments_are_features_then_labels_then_params) {
  ir_module *m = compile_ok("param w: f32[3, 1] = zeros\nlabel y: f32[4, 1]\ninput a: f32[4, 3]\n"
                            "param b: f32[1] = zeros\ninput c: f32[4, 1]\n"
                            "output a @ w + b + c\nloss mean(a @ w + b + c - y)\n");
  ir_func *f = forward(m);
  const char *want[] = {"a", "c", "y", "w", "b"};
  cr_assert_eq(f->nargs, 5);
  for (int i = 0; i < 5; i++) cr_assert_str_eq(f->args[i]->name, want[i]);
  cr_assert_eq(f->args[2]->op, IR_OP_INPUT);
  cr_assert_eq(f->args[3]->op, IR_OP_PARAM);
  cr_assert_str_eq(ir_module_get_meta(m, "labels"), "y");
  ir_module_destroy(m);
}

Test(lower, cross_entropy_matches_a_hand_computation) {
  static const double logits[6] = {1, 2, 0.5, -1, 0, 3};
  double want = 0;
  static const int labels[2] = {1, 2};
  for (int r = 0; r < 2; r++) {
    double z = 0;
    for (int k = 0; k < 3; k++) z += exp(logits[3 * r + k]);
    want += -(logits[3 * r + labels[r]] - log(z)) / 2;
  }
  /* Integer labels of shape [2] and [2, 1], and one-hot probabilities: the same loss. */
  const char *srcs[] = {
      "input z: f32[2, 3]\nlabel y: i32[2]\noutput z\nloss cross_entropy(z, y)\n",
      "input z: f32[2, 3]\nlabel y: i32[2, 1]\noutput z\nloss cross_entropy(z, y)\n",
      "input z: f32[2, 3]\nlabel y: f32[2, 3]\noutput z\nloss cross_entropy(z, y)\n",
  };
  static const double y_int[2] = {1, 2}, y_hot[6] = {0, 1, 0, 0, 0, 1};
  const double *ys[] = {y_int, y_int, y_hot};
  for (int i = 0; i < 3; i++) {
    ir_module *m = compile_ok(srcs[i]);
    ir_interp *in = run(m, (const char *[]){"z", "y", NULL}, (const double *[]){logits, ys[i]});
    cr_assert_float_eq(ir_interp_output(in, "loss", NULL)[0], want, 1e-12, "case %d", i);
    ir_interp_destroy(in);
    ir_module_destroy(m);
  }
  char *msg = first_error("input z: f32[2, 3]\nlabel y: i32[3]\noutput z\nloss cross_entropy(z, y)\n");
  cr_assert(strstr(msg, "labels i32[3] do not fit logits f32[2,3]"), "%s", msg);
  free(msg);
}

Test(lower, mse_is_the_mean_squared_error_of_equal_shapes) {
  ir_module *m = compile_ok("input p: f32[2, 2]\nlabel y: f32[2, 2]\noutput p\nloss mse(p, y)\n");
  static const double p[4] = {1, 2, 3, 4}, y[4] = {1, 0, 5, 1};
  ir_interp *in = run(m, (const char *[]){"p", "y", NULL}, (const double *[]){p, y});
  cr_assert_float_eq(ir_interp_output(in, "loss", NULL)[0], (0 + 4 + 4 + 9) / 4.0, 1e-12);
  ir_interp_destroy(in);
  ir_module_destroy(m);
  char *msg = first_error("input p: f32[4, 1]\nlabel y: f32[4]\noutput p\nloss mse(p, y)\n");
  cr_assert(strstr(msg, "different shapes"), "%s", msg);
  free(msg);
}

Test(lower, layout_and_reduction_functions_compute_what_they_say) {
  /* X = [[1, 2, 3], [4, 5, 6]] */
  expect("X @ [1, 0, -1]", 1, (int64_t[]){2}, (double[]){-2, -2}, 2);
  expect("[1, 1] @ X", 1, (int64_t[]){3}, (double[]){5, 7, 9}, 3);
  expect("sum(X, axis = 1)", 1, (int64_t[]){2}, (double[]){6, 15}, 2);
  expect("mean(X, axis = 0, keepdims = true)", 2, (int64_t[]){1, 3}, (double[]){2.5, 3.5, 4.5}, 3);
  expect("reduce_max(X, axes = [0, 1])", 0, NULL, (double[]){6}, 1);
  expect("reshape(X, [3, -1])", 2, (int64_t[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6}, 6);
  expect("transpose(X)", 2, (int64_t[]){3, 2}, (double[]){1, 4, 2, 5, 3, 6}, 6);
  expect("slice(X, [0, 1], [2, -1])", 2, (int64_t[]){2, 1}, (double[]){2, 5}, 2);
  expect("concat(X, X * 10, axis = 0)", 2, (int64_t[]){4, 3}, (double[]){1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60}, 12);
  expect("pad(X, [0, 1], [0, 0])", 2, (int64_t[]){2, 4}, (double[]){0, 1, 2, 3, 0, 4, 5, 6}, 8);
  expect("gather(X, [2, 0])", 1, (int64_t[]){2}, (double[]){3, 4}, 2);
  expect("one_hot([0, 2], 3)", 2, (int64_t[]){2, 3}, (double[]){1, 0, 0, 0, 0, 1}, 6);
  expect("iota([2, 3], axis = 1)", 2, (int64_t[]){2, 3}, (double[]){0, 1, 2, 0, 1, 2}, 6);
  expect("max(X, 3.5) - min(X, 2)", 2, (int64_t[]){2, 3}, (double[]){2.5, 1.5, 1.5, 2, 3, 4}, 6);
  expect("select(gt(X, 3), X, -X)", 2, (int64_t[]){2, 3}, (double[]){-1, -2, -3, 4, 5, 6}, 6);
  expect("broadcast([1, 2, 3], [2, 3]) + X", 2, (int64_t[]){2, 3}, (double[]){2, 4, 6, 5, 7, 9}, 6);
  expect("cast(X, i32) * 2", 2, (int64_t[]){2, 3}, (double[]){2, 4, 6, 8, 10, 12}, 6);
  expect("sum(softmax(X), axis = -1)", 1, (int64_t[]){2}, (double[]){1, 1}, 2);
  expect("logsumexp([[0, 0]])", 0, NULL, (double[]){log(2.0)}, 1);
}

Test(lower, constants_fold_and_literals_take_the_tensors_dtype) {
  ir_module *m = compile_ok("hidden = 2 * 3 + 1\ninput X: f64[2, hidden]\nr = X * 2 + [1, 2, 3, 4, 5, 6, 7]\n"
                            "output r\nloss cast(mean(r), f32)\n");
  ir_func *f = forward(m);
  cr_assert_eq(f->args[0]->type.dims[1], 7);
  for (int i = 0; i < f->nbody; i++)
    if (f->body[i]->op == IR_OP_CONST) cr_assert_eq(f->body[i]->type.dtype, IR_F64);
  ir_module_destroy(m);
}

Test(lower, inlined_functions_get_parameters_of_their_own) {
  ir_module *m = compile_ok("def dense(x, n, k) {\n  param w: f32[n, k] = xavier_uniform\n"
                            "  param b: f32[k] = zeros\n  return x @ w + b\n}\n"
                            "def mlp(x) {\n  h = relu(dense(x, 3, 4))\n  return dense(h, 4, 2)\n}\n"
                            "input X: f32[5, 3]\nout = mlp(X)\nextra = dense(X, 3, 2)\n"
                            "output out + extra\nloss mean(out)\n");
  ir_func *f = forward(m);
  const char *want[] = {"X", "out.dense_1.w", "out.dense_1.b", "out.dense_2.w", "out.dense_2.b",
                        "extra.w", "extra.b"};
  cr_assert_eq(f->nargs, 7);
  for (int i = 0; i < 7; i++) cr_assert_str_eq(f->args[i]->name, want[i]);
  cr_assert_str_eq(ir_module_get_meta(m, "init.extra.w"), "xavier_uniform");
  ir_error err = {0};
  cr_assert(ir_verify_module(m, &err), "%s", err.msg);
  ir_module_destroy(m);
}

Test(lower, settings_become_canonical_meta_text) {
  ir_module *m = compile_ok(
      "input X: f32[2, 3]\noutput X\nloss mean(X)\nrate = 0.01\n"
      "optimizer adam(lr = rate * 2, beta2 = 0.99, eps = 1e-8)\ntrain seed = 7, epochs = 12\n"
      "data csv(\"my data/set.csv\", features = [a, b..b2, \"c d\"], label = y, standardize = true)\n");
  cr_assert_str_eq(ir_module_get_meta(m, "optimizer"), "adam(lr=0.02, beta2=0.99, eps=1e-08)");
  cr_assert_str_eq(ir_module_get_meta(m, "lr"), "0.02");
  cr_assert_str_eq(ir_module_get_meta(m, "epochs"), "12");
  cr_assert_str_eq(ir_module_get_meta(m, "seed"), "7");
  cr_assert_str_eq(ir_module_get_meta(m, "data"),
                   "csv(path=\"my data/set.csv\", features=[a, b..b2, \"c d\"], label=y, standardize=true)");
  ir_module_destroy(m);
  m = compile_ok("input X: f32[2]\noutput X\nloss mean(X)\noptimizer sgd(0.5)\n"
                 "data synthetic_linreg(w = [2, -3.4], b = 4.2, n = 1000)\n");
  cr_assert_str_eq(ir_module_get_meta(m, "optimizer"), "sgd(lr=0.5)");
  ir_module_destroy(m);
  m = compile_ok("input X: f32[2]\noutput X\nloss mean(X)\n"
                 "data csv(\"house.csv\", label = price, unseen = zeros, dummy_na = true,\n"
                 "         missing = fill(mean, rooms = median, lot = constant(-1)), categorical = [alley, c0..c2])\n");
  cr_assert_str_eq(ir_module_get_meta(m, "data"),
                   "csv(path=house.csv, label=price, missing=fill(mean, rooms=median, lot=constant(-1)), "
                   "categorical=[alley, c0..c2], dummy_na=true, unseen=zeros)");
  ir_module_destroy(m);
  m = compile_ok("input X: f32[2]\noutput X\nloss mean(X)\noptimizer sgd(0.5)\n"
                 "data synthetic_linreg(w = [2, -3.4], b = 4.2, n = 1000)\n");
  cr_assert_str_eq(ir_module_get_meta(m, "data"), "synthetic_linreg(w=[2, -3.4], b=4.2, n=1000)");
  ir_module_destroy(m);
}

Test(lower, type_errors_name_both_sides) {
  struct {
    const char *src, *want;
  } cases[] = {
      {"input X: f32[2, 3]\nlabel y: i32[2]\noutput X\nloss mean(X * y)\n", "different dtypes: f32[2,3] and i32[2]"},
      {"input X: f32[2, 3]\noutput X\nloss mean(reshape(X, [4, 2]))\n", "cannot reshape [2,3] to [4,2]"},
      {"input X: f32[2, 3]\noutput X\nloss mean(concat(X, [1, 2], axis = 1))\n", "differ outside the concatenated axis"},
      {"input X: f32[2, 3]\noutput X\nloss mean(X) + [1, 2]\n", "the loss must be an f32 scalar, but it is f32[2]"},
      {"input X: f32[2, 3]\noutput X\nloss mean(X)\nloss mean(X)\n", "the model already has a loss"},
      {"input X: f32[2, 0]\noutput X\nloss mean(X)\n", "a dimension must be a positive integer, got 0"},
      {"input X: f33[2]\noutput X\nloss mean(X)\n", "unknown dtype 'f33'; did you mean 'f32'?"},
      {"input X: f32[2, 3]\noutput X\nloss mean(X) + [[1], [2, 3]]\n", "not rectangular"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *msg = first_error(cases[i].src);
    cr_assert(strstr(msg, cases[i].want), "case %zu: \"%s\" lacks \"%s\"", i, msg, cases[i].want);
    free(msg);
  }
}

/* The autodiff and jvp passes as passes: which functions they differentiate and what
 * they call the result, what the derived functions look like, and their errors (a
 * gradient through a non-differentiable op, a loss that is not a scalar, running twice). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ad.h"
#include "gradcheck.h"
#include "interp.h"
#include "passes.h"

static ir_module *parse_ok(const char *text) {
  ir_error err = {0};
  ir_module *m = ir_parse(text, strlen(text), &err);
  cr_assert_not_null(m, "%d:%d: %s\n%s", err.loc.line, err.loc.col, err.msg, text);
  cr_assert(ir_verify_module(m, &err), "%s\n%s", err.msg, text);
  return m;
}

static const char *tanh_model =
    "func @forward(%x: f32[3,2] input, %w: f32[2,2] param, %v: f32[2] param) {\n"
    "  %h = matmul %x, %w : f32[3,2] loc(2:7)\n"
    "  %t = tanh %h : f32[3,2] loc(3:9)\n"
    "  %loss = reduce_sum %t axes=[0,1] : f32[] loc(4:3)\n"
    "  output loss = %loss\n  output prediction = %t\n}\n";

Test(autodiff_pass, gradient_through_a_non_differentiable_op_is_an_error_at_its_loc) {
  /* No op of today's table without IR_F_DIFF can carry a gradient to a float operand
   * (comparisons return bool, one_hot takes integers), so the error path is reached by
   * taking tanh's rule out of a copy of the table. */
  ir_module *m = parse_ok(tanh_model);
  vjp_rule vjp[IR_OP_COUNT];
  jvp_rule jvp[IR_OP_COUNT];
  memcpy(vjp, ad_vjp_rules(), sizeof vjp);
  memcpy(jvp, ad_jvp_rules(), sizeof jvp);
  vjp[IR_OP_TANH] = NULL;
  jvp[IR_OP_TANH] = NULL;
  ir_error err = {0};
  ir_func *f = ir_module_find_func(m, "forward");
  cr_assert_null(ad_build_gradients(m, f, "gradients", vjp, &err));
  cr_expect_str_eq(err.msg, "@gradients: the gradient of the loss must flow through 'tanh', which is not differentiable");
  cr_expect_eq(err.loc.line, 3);
  cr_expect_eq(err.loc.col, 9);
  cr_assert_null(ad_build_jvp(m, f, "jvp", jvp, &err));
  cr_expect_str_eq(err.msg, "@forward: the derivative of the loss must flow through 'tanh', which is not differentiable");
  cr_expect_eq(err.loc.line, 3);
  cr_expect_eq(m->nfuncs, 1, "a failed derivation leaves the module as it was");
  cr_expect(ir_verify_module(m, &err), "%s", err.msg);
  ir_module_destroy(m);
}

Test(autodiff_pass, derived_functions_and_their_names) {
  ir_module *m = parse_ok(tanh_model);
  ir_error err = {0};
  cr_assert(pass_run_pipeline(m, "autodiff,jvp", NULL, &err), "%s", err.msg);
  ir_func *g = ir_module_find_func(m, "gradients"), *j = ir_module_find_func(m, "jvp");
  cr_assert_not_null(g);
  cr_assert_not_null(j);
  /* same arguments; outputs loss then grad.<param> in argument order */
  cr_expect_eq(g->nargs, 3);
  for (int i = 0; i < 3; i++) cr_expect_str_eq(g->args[i]->name, ir_module_find_func(m, "forward")->args[i]->name);
  cr_assert_eq(g->noutputs, 3);
  cr_expect_str_eq(g->outputs[0].name, "loss");
  cr_expect_str_eq(g->outputs[1].name, "grad.w");
  cr_expect_str_eq(g->outputs[2].name, "grad.v");
  /* v is not used: its gradient is zeros of its type */
  cr_expect_eq(g->outputs[2].value->op, IR_OP_CONST);
  cr_expect_eq(g->outputs[2].value->type.dims[0], 2);
  /* backward nodes point at the forward op they come from */
  bool tanh_loc = false;
  for (int i = 0; i < g->nbody; i++)
    if (g->body[i]->op == IR_OP_SUB && g->body[i]->loc.line == 3) tanh_loc = true;
  cr_expect(tanh_loc, "the 1 - y^2 of tanh's VJP should carry tanh's loc");
  /* jvp: tangent inputs for the params, outputs loss and dloss */
  cr_expect_eq(j->nargs, 5);
  cr_expect_str_eq(j->args[3]->name, "tangent.w");
  cr_expect_eq(j->args[3]->op, IR_OP_INPUT);
  cr_expect_str_eq(j->args[4]->name, "tangent.v");
  cr_expect_not_null(ir_func_find_output(j, "dloss"));

  /* printed and parsed again, the module still passes gradcheck: the derived functions
   * found in it are checked as they are */
  char *text = ir_module_to_string(m);
  ir_module *again = parse_ok(text);
  free(text);
  int nfuncs = again->nfuncs;
  pass_gradcheck_report r;
  cr_assert(pass_gradcheck(again, NULL, NULL, NULL, &r, &err), "%s", err.msg);
  cr_expect(r.ok);
  cr_expect_eq(again->nfuncs, nfuncs, "nothing rebuilt");
  pass_gradcheck_report_free(&r);
  ir_module_destroy(again);

  /* running it twice is an error, not a second @gradients */
  cr_expect_not(pass_run_pipeline(m, "autodiff", NULL, &err));
  cr_expect(strstr(err.msg, "@gradients already exists") != NULL, "%s", err.msg);
  ir_module_destroy(m);
}

Test(autodiff_pass, which_functions) {
  /* a loss function not called forward gives NAME.gradients; one with updates is a
   * training step, not differentiated; one without a loss neither */
  ir_module *m = parse_ok(
      "func @model(%w: f32[2] param) {\n  %s = reduce_sum %w axes=[0] : f32[]\n  output loss = %s\n}\n"
      "func @step(%w: f32[2] param) {\n  %s = reduce_sum %w axes=[0] : f32[]\n  output loss = %s\n"
      "  update %w = %w\n}\n"
      "func @other(%w: f32[2] param) {\n  output y = %w\n}\n");
  ir_error err = {0};
  cr_assert(pass_run_pipeline(m, "autodiff", NULL, &err), "%s", err.msg);
  cr_expect_not_null(ir_module_find_func(m, "model.gradients"));
  cr_expect_eq(m->nfuncs, 4);
  ir_module_destroy(m);

  m = parse_ok("func @other(%w: f32[2] param) {\n  output y = %w\n}\n");
  cr_expect_not(pass_run_pipeline(m, "autodiff", NULL, &err));
  cr_expect(strstr(err.msg, "no function to differentiate") != NULL, "%s", err.msg);
  ir_module_destroy(m);

  m = parse_ok("func @forward(%w: f32[2] param) {\n  output loss = %w\n}\n");
  cr_expect_not(pass_run_pipeline(m, "autodiff", NULL, &err));
  cr_expect(strstr(err.msg, "output 'loss' must be a floating-point scalar") != NULL, "%s", err.msg);
  cr_expect(strstr(err.msg, "f32[2]") != NULL, "%s", err.msg);
  cr_expect_not(pass_run_pipeline(m, "jvp", NULL, &err));
  ir_module_destroy(m);
}

/* Evaluates grad.<name> of @gradients at the given point. */
static void gradient_at(ir_module *m, const char *param, const double *x, int64_t n, double *out) {
  ir_error err = {0};
  cr_assert(pass_run_pipeline(m, "autodiff", NULL, &err), "%s", err.msg);
  ir_interp *in = ir_interp_create(ir_module_find_func(m, "gradients"));
  cr_assert(ir_interp_set_arg(in, param, x, n, &err), "%s", err.msg);
  cr_assert(ir_interp_run(in, &err), "%s", err.msg);
  char name[64];
  snprintf(name, sizeof name, "grad.%s", param);
  memcpy(out, ir_interp_output(in, name, NULL), (size_t)n * sizeof *out);
  ir_interp_destroy(in);
}

Test(autodiff_pass, conventions_at_ties_and_kinks) {
  /* reduce_max shares the gradient among equal maxima; max gives a tie to its first
   * operand; relu and abs have derivative 0 at 0 (the backend must agree) */
  double g[3];
  ir_module *m = parse_ok("func @forward(%x: f64[3] param) {\n  %m = reduce_max %x axes=[0] : f64[]\n"
                          "  output loss = %m\n}\n");
  gradient_at(m, "x", (double[]){1, 3, 3}, 3, g);
  cr_expect(g[0] == 0 && g[1] == 0.5 && g[2] == 0.5, "%g %g %g", g[0], g[1], g[2]);
  ir_module_destroy(m);

  m = parse_ok("func @forward(%x: f64[3] param) {\n  %c = const 2 : f64[3]\n  %m = max %x, %c : f64[3]\n"
               "  %r = relu %x : f64[3]\n  %a = abs %x : f64[3]\n  %s = add %m, %r : f64[3]\n"
               "  %t = add %s, %a : f64[3]\n  %l = reduce_sum %t axes=[0] : f64[]\n  output loss = %l\n}\n");
  gradient_at(m, "x", (double[]){2, 0, -1}, 3, g);
  /* x=2: max tie -> 1, relu 1, abs 1; x=0: max 0, relu 0, abs 0; x=-1: 0, 0, -1 */
  cr_expect(g[0] == 3 && g[1] == 0 && g[2] == -1, "%g %g %g", g[0], g[1], g[2]);
  ir_module_destroy(m);
}

Test(autodiff_pass, shared_values_accumulate) {
  /* loss = sum(x * x * x): x is used three times, d/dx = 3 x^2 */
  ir_module *m = parse_ok("func @forward(%x: f64[2] param) {\n  %a = mul %x, %x : f64[2]\n"
                          "  %b = mul %a, %x : f64[2]\n  %l = reduce_sum %b axes=[0] : f64[]\n"
                          "  output loss = %l\n}\n");
  double g[2];
  gradient_at(m, "x", (double[]){2, -3}, 2, g);
  cr_expect(g[0] == 12 && g[1] == 27, "%g %g", g[0], g[1]);
  ir_module_destroy(m);
}

Test(autodiff_pass, gradcheck_reports_a_wrong_gradient) {
  /* A hand-written @gradients with a wrong derivative (2x instead of 3x^2) must fail. */
  ir_module *m = parse_ok(
      "func @forward(%x: f64[2] param) {\n  %a = mul %x, %x : f64[2]\n  %b = mul %a, %x : f64[2]\n"
      "  %l = reduce_sum %b axes=[0] : f64[]\n  output loss = %l\n}\n"
      "func @gradients(%x: f64[2] param) {\n  %a = mul %x, %x : f64[2]\n  %b = mul %a, %x : f64[2]\n"
      "  %l = reduce_sum %b axes=[0] : f64[]\n  %g = add %x, %x : f64[2]\n"
      "  output loss = %l\n  output grad.x = %g\n}\n");
  pass_gradcheck_report r;
  ir_error err = {0};
  cr_assert(pass_gradcheck(m, NULL, NULL, NULL, &r, &err), "%s", err.msg);
  cr_expect_not(r.ok);
  cr_assert_eq(r.nparams, 1);
  cr_expect_not(r.params[0].ok);
  cr_expect_gt(r.params[0].max_abs, 0.1);
  cr_expect_gt(r.params[0].jvp_err, 0.01, "the JVP (built fresh) disagrees with the wrong gradient too");
  cr_expect_lt(r.params[0].jvp_fd_err, 1e-6, "while it agrees with differences");
  pass_gradcheck_report_free(&r);
  ir_module_destroy(m);
}

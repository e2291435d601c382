/* shape-infer: after it every elementwise operand has its op's shape, the function still
 * computes the same values, and a node whose type disagrees with its shape rule (as a
 * frontend could produce) is reported at the node's source location. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "interp.h"
#include "passes.h"

static const char *const text =
    "func @f(%x: f32[4,3] input, %b: f32[3] input, %s: f32[] input, %c: bool[4,1] input) {\n"
    "  %0 = add %x, %b : f32[4,3] loc(2:5)\n"
    "  %1 = mul %s, %0 : f32[4,3] loc(3:5)\n"
    "  %2 = gt %1, %s : bool[4,3]\n"
    "  %3 = select %c, %1, %b : f32[4,3]\n"
    "  %4 = select %2, %3, %s : f32[4,3]\n"
    "  %5 = reduce_sum %4 axes=[0] : f32[3]\n"
    "  %6 = sub %5, %b : f32[3]\n"
    "  output r = %6\n"
    "}\n";

static ir_module *parse_ok(void) {
  ir_error err = {0};
  ir_module *m = ir_parse(text, strlen(text), &err);
  cr_assert_not_null(m, "%s", err.msg);
  return m;
}

Test(shape_infer, elementwise_operands_get_the_result_shape) {
  ir_module *m = parse_ok();
  ir_error err = {0};
  cr_assert(pass_run_pipeline(m, "shape-infer", NULL, &err), "%s", err.msg);
  const ir_func *f = m->funcs[0];
  int broadcasts = 0;
  for (int i = 0; i < f->nbody; i++) {
    const ir_node *n = f->body[i];
    broadcasts += n->op == IR_OP_BROADCAST;
    if (!ir_op_is_elementwise(n->op)) continue;
    for (int j = 0; j < n->nargs; j++)
      cr_expect(ir_shape_equal(&n->args[j]->type, &n->type), "operand %d of node %d", j, i);
  }
  /* b, s (mul), s (gt), c and b (first select), s (second select) */
  cr_expect_eq(broadcasts, 6);
  /* A broadcast carries the location of the expression that needed it. */
  cr_expect_eq(f->body[0]->op, IR_OP_BROADCAST);
  cr_expect_eq(f->body[0]->loc.line, 2);
  cr_expect_eq(f->body[0]->loc.col, 5);
  /* Running it again finds nothing to do. */
  int nbody = f->nbody;
  cr_assert(pass_run_pipeline(m, "shape-infer", NULL, &err), "%s", err.msg);
  cr_expect_eq(f->nbody, nbody);
  ir_module_destroy(m);
}

Test(shape_infer, values_do_not_change) {
  ir_module *before = parse_ok(), *after = parse_ok();
  ir_error err = {0};
  cr_assert(pass_run_pipeline(after, "shape-infer", NULL, &err), "%s", err.msg);
  ir_interp *a = ir_interp_create(before->funcs[0]), *b = ir_interp_create(after->funcs[0]);
  const char *names[] = {"x", "b", "s", "c"};
  for (int k = 0; k < 4; k++) {
    double *pa = ir_interp_arg(a, names[k]), *pb = ir_interp_arg(b, names[k]);
    int64_t n = ir_type_numel(&ir_func_find_arg(before->funcs[0], names[k])->type);
    for (int64_t i = 0; i < n; i++)
      pa[i] = pb[i] = k == 3 ? (double)(i % 2) : sin(1.7 * (double)i + k);
  }
  cr_assert(ir_interp_run(a, &err) && ir_interp_run(b, &err), "%s", err.msg);
  const double *ra = ir_interp_output(a, "r", NULL), *rb = ir_interp_output(b, "r", NULL);
  for (int i = 0; i < 3; i++) cr_expect_eq(ra[i], rb[i], "r[%d]", i);
  ir_interp_destroy(a);
  ir_interp_destroy(b);
  ir_module_destroy(before);
  ir_module_destroy(after);
}

Test(shape_infer, wrong_type_is_reported_at_its_location) {
  ir_module *m = parse_ok();
  ir_node *mul = m->funcs[0]->body[1];
  mul->type.dims[0] = 5; /* what a buggy frontend could build: f32[5,3] */
  ir_error err = {0};
  cr_assert_not(pass_shape_infer(m, &err));
  cr_expect_eq(err.loc.line, 3);
  cr_expect_eq(err.loc.col, 5);
  cr_expect(strstr(err.msg, "'mul' produces f32[4,3], but its type says f32[5,3]") != NULL, "%s", err.msg);
  cr_expect(strstr(err.msg, "@f") != NULL, "%s", err.msg);
  ir_module_destroy(m);
}

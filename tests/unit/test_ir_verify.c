/* The verifier rejects malformed IR, and says which function, value and op. Each case
 * builds a valid function, breaks one invariant by hand, and checks the message. */
#include <criterion/criterion.h>
#include <string.h>

#include "ir.h"

static ir_module *m;
static ir_func *f;
static ir_node *x, *w, *y, *xw, *sum;

/* @t(%x: f32[4,2] input, %y: f32[4,1] input, %w: f32[2,1] param):
 *   %0 = matmul %x, %w; %1 = add %0, %y; %s = reduce_sum %1 axes=[0,1]; output loss = %s */
static void setup(void) {
  m = ir_module_create();
  f = ir_func_create(m, "t");
  x = ir_func_add_arg(f, IR_OP_INPUT, "x", ir_type_make(IR_F32, 2, (int64_t[]){4, 2}));
  y = ir_func_add_arg(f, IR_OP_INPUT, "y", ir_type_make(IR_F32, 2, (int64_t[]){4, 1}));
  w = ir_func_add_arg(f, IR_OP_PARAM, "w", ir_type_make(IR_F32, 2, (int64_t[]){2, 1}));
  xw = ir_emit(f, IR_OP_MATMUL, (ir_node *[]){x, w}, 2, NULL, NULL);
  ir_node *add = ir_emit(f, IR_OP_ADD, (ir_node *[]){xw, y}, 2, NULL, NULL);
  sum = ir_emit_reduce(f, IR_OP_REDUCE_SUM, add, (int64_t[]){0, 1}, 2, false);
  sum->name = "s";
  ir_func_add_output(f, "loss", sum);
}
static void teardown(void) { ir_module_destroy(m); }

TestSuite(verify, .init = setup, .fini = teardown);

static void expect_error(const char *msg) {
  ir_error err = {0};
  cr_assert_not(ir_verify_module(m, &err), "the verifier accepted broken IR (wanted: %s)", msg);
  cr_assert_str_eq(err.msg, msg);
}

Test(verify, accepts_the_valid_function) {
  ir_error err = {0};
  cr_assert(ir_verify_module(m, &err), "%s", err.msg);
}

Test(verify, use_before_definition) {
  ir_node *t = f->body[0];
  f->body[0] = f->body[1];
  f->body[1] = t;
  expect_error("in @t: %0 ('add'): operand 1 is not defined before its use");
}

Test(verify, operand_from_another_function) {
  ir_func *g = ir_func_create(m, "g");
  ir_node *z = ir_func_add_arg(g, IR_OP_INPUT, "z", ir_type_make(IR_F32, 2, (int64_t[]){4, 1}));
  f->body[1]->args[1] = z;
  expect_error("in @t: %1 ('add'): operand 2 is not defined before its use");
}

Test(verify, wrong_arity) {
  f->body[1]->nargs = 1;
  expect_error("in @t: %1 ('add') has 1 operands, expected 2");
}

Test(verify, result_type_disagrees_with_operands) {
  y->type.dims[0] = 5;
  expect_error("in @t: %1: 'add': shapes [4,1] and [5,1] do not broadcast");
}

Test(verify, declared_type_wrong) {
  xw->type.dtype = IR_F64;
  expect_error("in @t: %0 ('matmul') has type f64[4,1], but its operands give f32[4,1]");
}

Test(verify, bad_attribute) {
  sum->attrs.axes[1] = 2;
  expect_error("in @t: %s: 'reduce_sum': axis 2 is out of range for rank 2");
}

Test(verify, duplicate_argument) {
  ir_func_add_arg(f, IR_OP_INPUT, "x", ir_type_scalar(IR_F32));
  expect_error("in @t: argument %x is declared twice");
}

Test(verify, duplicate_value_name) {
  xw->name = "s";
  expect_error("in @t: the name %s is used twice");
}

Test(verify, value_named_like_an_argument) {
  xw->name = "w";
  expect_error("in @t: the name %w is used twice");
}

Test(verify, same_node_twice_in_body) {
  f->body[2] = f->body[0];
  f->outputs[0].value = xw;
  expect_error("in @t: value %0 is defined twice");
}

Test(verify, argument_op_in_body) {
  xw->op = IR_OP_PARAM;
  expect_error("in @t: a function argument op appears in the body");
}

Test(verify, output_of_undefined_value) {
  ir_func *g = ir_func_create(m, "g");
  ir_node *z = ir_func_add_arg(g, IR_OP_INPUT, "z", ir_type_scalar(IR_F32));
  ir_func_add_output(f, "other", z);
  expect_error("in @t: output 'other' is not a value of the function");
}

Test(verify, duplicate_output) {
  ir_func_add_output(f, "loss", xw);
  expect_error("in @t: output 'loss' is given twice");
}

Test(verify, update_of_an_input) {
  ir_func_add_update(f, y, f->body[1]);
  expect_error("in @t: update 1 does not target a param or state argument");
}

Test(verify, update_of_wrong_type) {
  ir_func_add_update(f, w, xw);
  expect_error("in @t: the update of %w (f32[2,1]) has type f32[4,1]");
}

Test(verify, update_twice) {
  ir_func_add_update(f, w, w);
  ir_func_add_update(f, w, w);
  expect_error("in @t: %w is updated twice");
}

Test(verify, duplicate_function) {
  ir_func_create(m, "t");
  expect_error("function @t is defined twice");
}

Test(verify, negative_kernel) {
  xw->kernel = -1;
  expect_error("in @t: %0 ('matmul') has a negative kernel number");
}

Test(verify, keeps_the_source_location) {
  f->loc = (ir_loc){7, 9};
  ir_node *bad = ir_emit_unary(f, IR_OP_EXP, sum);
  bad->type.rank = 1;
  bad->type.dims[0] = 1;
  ir_error err = {0};
  cr_assert_not(ir_verify_module(m, &err));
  cr_assert_eq(err.loc.line, 7);
  cr_assert_eq(err.loc.col, 9);
  cr_assert_str_eq(err.msg, "in @t: %2 ('exp') has type f32[1], but its operands give f32[]");
}

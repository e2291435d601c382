/* Shape rules: broadcasting that works and that must fail, matmul and reduction shapes,
 * and the messages the frontend passes on to users. */
#include <criterion/criterion.h>
#include <string.h>

#include "ir.h"

static ir_module *m;
static ir_func *f;

static void setup(void) {
  m = ir_module_create();
  f = ir_func_create(m, "t");
}
static void teardown(void) { ir_module_destroy(m); }

TestSuite(shape, .init = setup, .fini = teardown);

static ir_node *arg(const char *name, ir_dtype dt, int rank, const int64_t *dims) {
  return ir_func_add_arg(f, IR_OP_INPUT, name, ir_type_make(dt, rank, dims));
}

static ir_type type_of(ir_dtype dt, int rank, const int64_t *dims) { return ir_type_make(dt, rank, dims); }

static void expect_shape(const ir_node *n, int rank, const int64_t *dims) {
  cr_assert_not_null(n);
  cr_assert_eq(n->type.rank, rank, "rank %d, expected %d", n->type.rank, rank);
  for (int i = 0; i < rank; i++) cr_assert_eq(n->type.dims[i], dims[i], "dim %d", i);
}

Test(shape, broadcasting_that_works) {
  static const struct {
    int ra; int64_t a[3]; int rb; int64_t b[3]; int rr; int64_t r[3];
  } cases[] = {
      {2, {10, 1}, 1, {1}, 2, {10, 1}},       {2, {10, 3}, 1, {3}, 2, {10, 3}},
      {2, {10, 1}, 2, {1, 4}, 2, {10, 4}},    {0, {0}, 2, {2, 3}, 2, {2, 3}},
      {3, {2, 1, 4}, 2, {3, 1}, 3, {2, 3, 4}}, {1, {1}, 1, {1}, 1, {1}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char na[8], nb[8];
    snprintf(na, sizeof na, "a%zu", i);
    snprintf(nb, sizeof nb, "b%zu", i);
    ir_node *args[2] = {arg(na, IR_F32, cases[i].ra, cases[i].a), arg(nb, IR_F32, cases[i].rb, cases[i].b)};
    ir_error err;
    ir_node *n = ir_build(f, IR_OP_ADD, args, 2, NULL, NULL, &err);
    cr_assert_not_null(n, "case %zu: %s", i, err.msg);
    expect_shape(n, cases[i].rr, cases[i].r);
  }
}

Test(shape, broadcasting_that_fails_names_both_shapes) {
  ir_node *args[2] = {arg("a", IR_F32, 2, (int64_t[]){10, 2}), arg("b", IR_F32, 2, (int64_t[]){10, 3})};
  ir_error err;
  cr_assert_null(ir_build(f, IR_OP_MUL, args, 2, NULL, NULL, &err));
  cr_assert_str_eq(err.msg, "'mul': shapes [10,2] and [10,3] do not broadcast");
  ir_node *c[2] = {arg("c", IR_F32, 1, (int64_t[]){4}), arg("d", IR_F32, 2, (int64_t[]){4, 3})};
  cr_assert_null(ir_build(f, IR_OP_SUB, c, 2, NULL, NULL, &err));
  cr_assert_str_eq(err.msg, "'sub': shapes [4] and [4,3] do not broadcast");
}

Test(shape, dtypes_must_agree_and_suit_the_op) {
  ir_node *x = arg("x", IR_F32, 1, (int64_t[]){3});
  ir_node *i = arg("i", IR_I32, 1, (int64_t[]){3});
  ir_node *b = arg("b", IR_BOOL, 1, (int64_t[]){3});
  ir_error err;
  cr_assert_null(ir_build(f, IR_OP_ADD, (ir_node *[]){x, i}, 2, NULL, NULL, &err));
  cr_assert_str_eq(err.msg, "'add': operand types differ: f32[3] and i32[3]");
  cr_assert_null(ir_build(f, IR_OP_EXP, &i, 1, NULL, NULL, &err));
  cr_assert_str_eq(err.msg, "'exp': needs a floating-point operand, got i32");
  cr_assert_null(ir_build(f, IR_OP_NEG, &b, 1, NULL, NULL, &err));
  cr_assert_str_eq(err.msg, "'neg': needs a numeric operand, got bool");
  ir_node *lt = ir_build(f, IR_OP_LT, (ir_node *[]){i, i}, 2, NULL, NULL, &err);
  cr_assert_not_null(lt);
  cr_assert_eq(lt->type.dtype, IR_BOOL);
  cr_assert_null(ir_build(f, IR_OP_SELECT, (ir_node *[]){x, x, x}, 3, NULL, NULL, &err));
  cr_assert_str_eq(err.msg, "'select': condition must be bool, got f32");
}

Test(shape, matmul_shapes) {
  ir_node *a = arg("a", IR_F32, 2, (int64_t[]){10, 2});
  ir_node *w = arg("w", IR_F32, 2, (int64_t[]){2, 1});
  ir_node *bad = arg("bad", IR_F32, 2, (int64_t[]){3, 1});
  ir_node *batched = arg("batched", IR_F32, 3, (int64_t[]){4, 10, 2});
  ir_node *v = arg("v", IR_F32, 1, (int64_t[]){2});
  ir_error err;
  expect_shape(ir_build(f, IR_OP_MATMUL, (ir_node *[]){a, w}, 2, NULL, NULL, &err), 2, (int64_t[]){10, 1});
  expect_shape(ir_build(f, IR_OP_MATMUL, (ir_node *[]){batched, w}, 2, NULL, NULL, &err), 3,
               (int64_t[]){4, 10, 1});
  cr_assert_null(ir_build(f, IR_OP_MATMUL, (ir_node *[]){a, bad}, 2, NULL, NULL, &err));
  cr_assert_str_eq(err.msg, "'matmul': inner dimensions disagree: [10,2] @ [3,1] (2 vs 3)");
  cr_assert_null(ir_build(f, IR_OP_MATMUL, (ir_node *[]){a, v}, 2, NULL, NULL, &err));
  cr_assert_str_eq(err.msg, "'matmul': operands must have rank 2 or more, got [10,2] and [2]");
}

Test(shape, reductions) {
  ir_node *x = arg("x", IR_F32, 3, (int64_t[]){2, 3, 4});
  ir_error err;
  ir_attrs axes1 = {.naxes = 1, .axes = {1}};
  expect_shape(ir_build(f, IR_OP_REDUCE_SUM, &x, 1, &axes1, NULL, &err), 2, (int64_t[]){2, 4});
  ir_attrs keep = {.naxes = 2, .axes = {0, 2}, .keepdims = true};
  expect_shape(ir_build(f, IR_OP_REDUCE_MAX, &x, 1, &keep, NULL, &err), 3, (int64_t[]){1, 3, 1});
  ir_attrs all = {.naxes = 3, .axes = {0, 1, 2}};
  expect_shape(ir_build(f, IR_OP_REDUCE_MEAN, &x, 1, &all, NULL, &err), 0, NULL);
  ir_attrs out_of_range = {.naxes = 1, .axes = {3}};
  cr_assert_null(ir_build(f, IR_OP_REDUCE_SUM, &x, 1, &out_of_range, NULL, &err));
  cr_assert_str_eq(err.msg, "'reduce_sum': axis 3 is out of range for rank 3");
  ir_attrs twice = {.naxes = 2, .axes = {1, 1}};
  cr_assert_null(ir_build(f, IR_OP_REDUCE_SUM, &x, 1, &twice, NULL, &err));
  cr_assert_str_eq(err.msg, "'reduce_sum': axis listed twice");
}

Test(shape, layout_ops) {
  ir_node *x = arg("x", IR_F32, 2, (int64_t[]){10, 2});
  ir_error err;
  ir_attrs perm = {.naxes = 2, .axes = {1, 0}};
  expect_shape(ir_build(f, IR_OP_TRANSPOSE, &x, 1, &perm, NULL, &err), 2, (int64_t[]){2, 10});
  ir_attrs slice = {.nbounds = 2, .lo = {2, 0}, .hi = {7, 1}};
  expect_shape(ir_build(f, IR_OP_SLICE, &x, 1, &slice, NULL, &err), 2, (int64_t[]){5, 1});
  ir_attrs bad_slice = {.nbounds = 2, .lo = {0, 0}, .hi = {11, 2}};
  cr_assert_null(ir_build(f, IR_OP_SLICE, &x, 1, &bad_slice, NULL, &err));
  cr_assert_str_eq(err.msg, "'slice': range [0, 11) on axis 0 is outside shape [10,2]");
  ir_attrs pad = {.nbounds = 2, .lo = {1, 0}, .hi = {0, 3}};
  expect_shape(ir_build(f, IR_OP_PAD, &x, 1, &pad, NULL, &err), 2, (int64_t[]){11, 5});
  ir_attrs axis1 = {.axis = 1};
  expect_shape(ir_build(f, IR_OP_CONCAT, (ir_node *[]){x, x, x}, 3, &axis1, NULL, &err), 2,
               (int64_t[]){10, 6});
  ir_type r = type_of(IR_F32, 1, (int64_t[]){20});
  expect_shape(ir_build(f, IR_OP_RESHAPE, &x, 1, NULL, &r, &err), 1, (int64_t[]){20});
  ir_type bad_r = type_of(IR_F32, 1, (int64_t[]){21});
  cr_assert_null(ir_build(f, IR_OP_RESHAPE, &x, 1, NULL, &bad_r, &err));
  cr_assert_str_eq(err.msg, "'reshape': cannot reshape [10,2] to [21] (20 elements to 21)");
  ir_type wide = type_of(IR_F32, 3, (int64_t[]){4, 10, 2});
  expect_shape(ir_build(f, IR_OP_BROADCAST, &x, 1, NULL, &wide, &err), 3, (int64_t[]){4, 10, 2});
  ir_type narrow = type_of(IR_F32, 2, (int64_t[]){10, 3});
  cr_assert_null(ir_build(f, IR_OP_BROADCAST, &x, 1, NULL, &narrow, &err));
  cr_assert_str_eq(err.msg, "'broadcast': shape [10,2] does not broadcast to [10,3]");
}

Test(shape, labels_and_softmax) {
  ir_node *logits = arg("logits", IR_F32, 2, (int64_t[]){8, 10});
  ir_node *labels = arg("labels", IR_I32, 1, (int64_t[]){8});
  ir_error err;
  ir_attrs axis1 = {.axis = 1};
  expect_shape(ir_build(f, IR_OP_GATHER, (ir_node *[]){logits, labels}, 2, &axis1, NULL, &err), 1,
               (int64_t[]){8});
  expect_shape(ir_build(f, IR_OP_LOG_SOFTMAX, &logits, 1, &axis1, NULL, &err), 2, (int64_t[]){8, 10});
  ir_type oh = type_of(IR_F32, 2, (int64_t[]){8, 10});
  expect_shape(ir_build(f, IR_OP_ONE_HOT, &labels, 1, NULL, &oh, &err), 2, (int64_t[]){8, 10});
  cr_assert_null(ir_build(f, IR_OP_ONE_HOT, &logits, 1, NULL, &oh, &err));
  cr_assert_str_eq(err.msg, "'one_hot': labels must be integers, got f32");
  ir_attrs axis2 = {.axis = 2};
  cr_assert_null(ir_build(f, IR_OP_SOFTMAX, &logits, 1, &axis2, NULL, &err));
  cr_assert_str_eq(err.msg, "'softmax': axis 2 is out of range for rank 2");
}

Test(shape, arity_and_given_types) {
  ir_node *x = arg("x", IR_F32, 1, (int64_t[]){3});
  ir_error err;
  cr_assert_null(ir_build(f, IR_OP_ADD, &x, 1, NULL, NULL, &err));
  cr_assert_str_eq(err.msg, "'add' takes 2 operands, got 1");
  cr_assert_null(ir_build(f, IR_OP_CAST, &x, 1, NULL, NULL, &err));
  cr_assert_str_eq(err.msg, "'cast' needs its result type");
  ir_type wrong = type_of(IR_F32, 1, (int64_t[]){4});
  cr_assert_null(ir_build(f, IR_OP_EXP, &x, 1, NULL, &wrong, &err));
  cr_assert_str_eq(err.msg, "'exp' produces f32[3], but its type says f32[4]");
  double vals[2] = {1, 2};
  ir_attrs two = {.nvalues = 2, .values = vals};
  ir_type three = type_of(IR_F32, 1, (int64_t[]){3});
  cr_assert_null(ir_build(f, IR_OP_CONST, NULL, 0, &two, &three, &err));
  cr_assert_str_eq(err.msg, "'const': 2 values for 3 elements (give one value or all of them)");
}

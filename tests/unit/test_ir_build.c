/* Builders: where new nodes go, and the helpers passes rely on. */
#include <criterion/criterion.h>

#include "ir.h"

Test(build, insertion_point_at_the_end_keeps_order) {
  ir_module *m = ir_module_create();
  ir_func *f = ir_func_create(m, "t");
  ir_node *x = ir_func_add_arg(f, IR_OP_INPUT, "x", ir_type_make(IR_F32, 1, (int64_t[]){3}));
  ir_node *e = ir_emit_unary(f, IR_OP_EXP, x);
  f->insert_at = f->nbody;
  ir_node *a = ir_emit_unary(f, IR_OP_NEG, e);
  ir_node *b = ir_emit_unary(f, IR_OP_ABS, a);
  cr_assert_eq(f->body[1], a);
  cr_assert_eq(f->body[2], b);
  ir_func_add_output(f, "loss", b);
  ir_error err;
  cr_assert(ir_verify_module(m, &err), "%s", err.msg);
  ir_module_destroy(m);
}

Test(build, insertion_point_in_the_middle) {
  ir_module *m = ir_module_create();
  ir_func *f = ir_func_create(m, "t");
  ir_node *x = ir_func_add_arg(f, IR_OP_INPUT, "x", ir_type_make(IR_F32, 1, (int64_t[]){3}));
  ir_node *e = ir_emit_unary(f, IR_OP_EXP, x);
  ir_node *l = ir_emit_unary(f, IR_OP_LOG, e);
  f->insert_at = 1;
  ir_node *a = ir_emit_unary(f, IR_OP_NEG, e);
  ir_node *b = ir_emit_unary(f, IR_OP_ABS, a);
  cr_assert_eq(f->body[0], e);
  cr_assert_eq(f->body[1], a);
  cr_assert_eq(f->body[2], b);
  cr_assert_eq(f->body[3], l);
  ir_module_destroy(m);
}

Test(build, helpers_skip_no_ops) {
  ir_module *m = ir_module_create();
  ir_func *f = ir_func_create(m, "t");
  ir_node *x = ir_func_add_arg(f, IR_OP_INPUT, "x", ir_type_make(IR_F32, 2, (int64_t[]){2, 3}));
  cr_assert_eq(ir_emit_broadcast(f, x, &x->type), x);
  cr_assert_eq(ir_emit_reshape(f, x, &x->type), x);
  cr_assert_eq(ir_emit_cast(f, x, IR_F32), x);
  cr_assert_eq(f->nbody, 0);
  ir_node *one = ir_emit_const(f, ir_type_scalar(IR_F32), 1.0);
  ir_node *sum = ir_emit_binary(f, IR_OP_ADD, x, one);
  cr_assert_eq(sum->args[1]->op, IR_OP_BROADCAST, "scalar operand broadcast explicitly");
  cr_assert_eq(sum->type.rank, 2);
  ir_module_destroy(m);
}

/* softmax and log_softmax along one axis, numerically stable: for every slice along the
 * axis, the maximum, then the sum of exp(x - max), then the result
 *   softmax      exp(x - max) / sum
 *   log_softmax  x - max - log(sum)
 * The operand comes through be_value_at, so elementwise producers may be fused in. */
#include <math.h>

#include "be_internal.h"

typedef struct {
  const ir_node *s, *x;
  LLVMValueRef *idx;  /* the full index; idx[axis] is set by each inner loop */
  int axis;
} softmax_ctx;

static LLVMValueRef inner_value(be_kernel *k, softmax_ctx *sc, be_loop *l) {
  sc->idx[sc->axis] = sc->x->type.dims[sc->axis] == 1 ? be_i64(k->c, 0)
                                                       : be_loop_begin(k->c, l, sc->x->type.dims[sc->axis], "s");
  be_memo_clear(k);
  return be_value_at(k, sc->x, sc->idx);
}

static void inner_close(be_kernel *k, softmax_ctx *sc, be_loop *l) {
  be_memo_clear(k);
  if (sc->x->type.dims[sc->axis] != 1) be_loop_end(k->c, l);
}

static void slice_body(be_kernel *k, LLVMValueRef *idx, void *arg) {
  be_ctx *c = k->c;
  softmax_ctx *sc = arg;
  sc->idx = idx;
  ir_dtype dt = sc->s->type.dtype;
  LLVMTypeRef t = be_reg_type(c, dt);
  LLVMValueRef max = be_entry_alloca(c, t, "max"), sum = be_entry_alloca(c, t, "sum");
  be_loop l;

  LLVMBuildStore(c->b, be_const_of(c, dt, -INFINITY), max);
  LLVMValueRef v = inner_value(k, sc, &l);
  be_store_members(k, idx);
  LLVMValueRef mv[2] = {LLVMBuildLoad2(c->b, t, max, ""), v};
  LLVMBuildStore(c->b, be_intrinsic(c, "llvm.maximum", t, mv, 2), max);
  inner_close(k, sc, &l);
  LLVMValueRef m = LLVMBuildLoad2(c->b, t, max, "");
  /* A slice of -inf only: shift by 0 so exp gives 0 rather than NaN. */
  LLVMValueRef isinf = LLVMBuildFCmp(c->b, LLVMRealOEQ, m, be_const_of(c, dt, -INFINITY), "");
  m = LLVMBuildSelect(c->b, isinf, be_const_of(c, dt, 0), m, "");

  LLVMBuildStore(c->b, be_const_of(c, dt, 0), sum);
  v = inner_value(k, sc, &l);
  LLVMValueRef d = LLVMBuildFSub(c->b, v, m, "");
  LLVMValueRef e = be_intrinsic(c, "llvm.exp", t, &d, 1);
  LLVMBuildStore(c->b, be_fadd_reassoc(c, LLVMBuildLoad2(c->b, t, sum, ""), e), sum);
  inner_close(k, sc, &l);
  LLVMValueRef s = LLVMBuildLoad2(c->b, t, sum, "");
  LLVMValueRef scale = sc->s->op == IR_OP_SOFTMAX
                           ? LLVMBuildFDiv(c->b, be_const_of(c, dt, 1), s, "")
                           : LLVMBuildFAdd(c->b, m, be_intrinsic(c, "llvm.log", t, &s, 1), "");

  v = inner_value(k, sc, &l);
  LLVMValueRef out;
  if (sc->s->op == IR_OP_SOFTMAX) {
    LLVMValueRef d2 = LLVMBuildFSub(c->b, v, m, "");
    out = LLVMBuildFMul(c->b, be_intrinsic(c, "llvm.exp", t, &d2, 1), scale, "");
  } else {
    out = LLVMBuildFSub(c->b, v, scale, "");
  }
  be_store(c, dt, k->buf[sc->s->id], be_linear_index(c, &sc->s->type, idx), out);
  inner_close(k, sc, &l);
}

void be_emit_softmax(be_kernel *k) {
  const be_group *g = &k->plan->groups[k->group];
  softmax_ctx sc = {.s = g->sink, .x = g->sink->args[0], .axis = (int)g->sink->attrs.axis};
  /* The outer loop nest skips the axis: a copy of the space with that axis of size 1. */
  ir_type outer = sc.x->type;
  if (ir_type_numel(&outer) == 0) return;
  outer.dims[sc.axis] = 1;
  be_emit_loops(k, &outer, slice_body, &sc);
}

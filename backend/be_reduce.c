/* Reductions (reduce_sum, reduce_mean, reduce_max, logsumexp) and the elementwise ops fused
 * into them. One loop nest per kernel: outer loops over the kept axes, inner loops over the
 * reduced ones, an accumulator in a register (an alloca that SROA promotes). The operand is
 * evaluated with be_value_at, so the elementwise chain that feeds the reduction never goes
 * to memory; members used elsewhere are stored as the inner loop visits each element once.
 *
 * Float accumulation allows reassociation so the inner loop vectorises; the result is still
 * the same on every run of the same compiled code. logsumexp subtracts the maximum first. */
#include <math.h>
#include <string.h>

#include "be_internal.h"

typedef struct {
  be_loop loops[IR_MAX_RANK];
  int n;
} loop_nest;

/* Opens loops over the axes of `space` selected by `which` (size-1 axes get index 0). */
static void open_loops(be_ctx *c, const ir_type *space, const bool *which, LLVMValueRef *idx,
                       loop_nest *nest) {
  nest->n = 0;
  for (int d = 0; d < space->rank; d++) {
    if (!which[d]) continue;
    if (space->dims[d] == 1)
      idx[d] = be_i64(c, 0);
    else
      idx[d] = be_loop_begin(c, &nest->loops[nest->n++], space->dims[d], "r");
  }
}

static void close_loops(be_ctx *c, loop_nest *nest) {
  for (int l = nest->n - 1; l >= 0; l--) be_loop_end(c, &nest->loops[l]);
  if (nest->n > 0) be_loop_keep(c, &nest->loops[nest->n - 1]);
}

static LLVMValueRef identity(be_ctx *c, const ir_node *r) {
  ir_dtype dt = r->type.dtype;
  if (r->op == IR_OP_REDUCE_MAX || r->op == IR_OP_LOGSUMEXP) {
    if (ir_dtype_is_float(dt)) return be_const_of(c, dt, -INFINITY);
    if (dt == IR_I32) return LLVMConstInt(c->i32, (unsigned long long)(int64_t)INT32_MIN, 1);
    if (dt == IR_I64) return LLVMConstInt(c->i64, (unsigned long long)INT64_MIN, 1);
    return LLVMConstInt(c->i1, 0, 0);
  }
  return be_const_of(c, dt, 0);
}

static LLVMValueRef combine(be_ctx *c, const ir_node *r, LLVMValueRef acc, LLVMValueRef v) {
  ir_dtype dt = r->type.dtype;
  if (r->op == IR_OP_REDUCE_MAX || r->op == IR_OP_LOGSUMEXP) {
    LLVMValueRef args[2] = {acc, v};
    /* NaN propagates, as in the reference interpreter. */
    if (ir_dtype_is_float(dt)) return be_intrinsic(c, "llvm.maximum", be_reg_type(c, dt), args, 2);
    LLVMIntPredicate p = dt == IR_BOOL ? LLVMIntUGT : LLVMIntSGT;
    return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, p, v, acc, ""), v, acc, "");
  }
  if (ir_dtype_is_float(dt)) return be_fadd_reassoc(c, acc, v);
  return LLVMBuildAdd(c->b, acc, v, "");
}

/* Every element of `t` (an all-axes loop nest); idx receives the index. */
static void open_all(be_ctx *c, const ir_type *t, LLVMValueRef *idx, loop_nest *nest) {
  bool all[IR_MAX_RANK];
  for (int d = 0; d < t->rank; d++) all[d] = true;
  open_loops(c, t, all, idx, nest);
}

/* The result's index for operand index idx: the kept axes (and 0 for axes kept with size 1). */
static void result_index(be_ctx *c, const ir_node *r, const bool *reduced, LLVMValueRef *idx,
                         LLVMValueRef *ridx) {
  for (int d = 0, j = 0; d < r->args[0]->type.rank; d++) {
    if (!reduced[d])
      ridx[j++] = idx[d];
    else if (r->attrs.keepdims)
      ridx[j++] = be_i64(c, 0);
  }
}

/* Rows of a reduced axis combined per visit of the result row (see emit_reduce_rows), and
 * fewer when the fused body is long (long_body). */
enum { ROWS_PER_VISIT = 8, ROWS_PER_VISIT_LONG = 4 };

/* Whether the kernel fuses an op whose code is long (exp and log are ~30 instructions of
 * polynomial each). A visit copies the whole fused body once per row, and LLVM's loop
 * vectoriser then widens every copy: 8 copies of the cross-entropy gradient's exp were most
 * of its compile time. 4 rows a visit halve that (1 row a visit, or storing the body first
 * and summing the rows from memory, gave slower steps). */
static bool long_body(const be_kernel *k) {
  const be_group *g = &k->plan->groups[k->group];
  for (int i = 0; i < g->nnodes; i++)
    if (be_scalar_code_is_long(g->nodes[i]->op)) return true;
  return false;
}

/* out (+)= x over every element, `per` rows of reduced axis a at a time: rows base + i*per + u
 * for i < trips (a loop when trips > 1) and u < per (unrolled). The rows are combined in
 * registers first, so the result row makes one trip through memory per `per` rows: a short
 * row is one masked vector, and a masked store does not forward to the next load. a < 0 (no
 * reduced axis longer than 1): every element once, trips = per = 1. */
static void accumulate_rows(be_kernel *k, const ir_node *r, const bool *reduced, int a, int64_t trips,
                            int64_t base, int per) {
  be_ctx *c = k->c;
  const ir_node *x = r->args[0];
  ir_dtype dt = r->type.dtype;
  LLVMValueRef out = k->buf[r->id], idx[IR_MAX_RANK], ridx[IR_MAX_RANK], row0 = be_i64(c, base);
  loop_nest nest = {.n = 0};
  for (int d = 0; d < x->type.rank; d++) {
    if (d == a) {
      if (trips > 1) {
        LLVMValueRef i = be_loop_begin(c, &nest.loops[nest.n++], trips, "r");
        row0 = LLVMBuildAdd(c->b, row0, LLVMBuildMul(c->b, i, be_i64(c, per), ""), "");
      }
    } else {
      idx[d] = x->type.dims[d] == 1 ? be_i64(c, 0) : be_loop_begin(c, &nest.loops[nest.n++], x->type.dims[d], "r");
    }
  }
  be_memo_clear(k);
  LLVMValueRef sum = NULL;
  for (int u = 0; u < per; u++) {
    if (a >= 0) idx[a] = u == 0 ? row0 : LLVMBuildAdd(c->b, row0, be_i64(c, u), "");
    be_store_members(k, idx);
    LLVMValueRef v = be_value_at(k, x, idx);
    sum = sum ? combine(c, r, sum, v) : v;
  }
  result_index(c, r, reduced, idx, ridx);
  LLVMValueRef at = be_linear_index(c, &r->type, ridx);
  be_store(c, dt, out, at, combine(c, r, be_load(c, dt, out, at), sum));
  be_memo_clear(k);
  close_loops(c, &nest);
}

/* A reduction that keeps the innermost axis (the bias gradient: sum over the batch of a
 * [batch, features] value) walks its operand in memory order and accumulates into the
 * result row: out[j] = identity; for i, for j: out[j] = out[j] (+) x[i, j]. The inner loop
 * then runs along contiguous memory and vectorises, instead of striding down columns. */
static void emit_reduce_rows(be_kernel *k, const ir_node *r, const bool *reduced, int64_t count) {
  be_ctx *c = k->c;
  const ir_node *x = r->args[0];
  ir_dtype dt = r->type.dtype;
  LLVMValueRef out = k->buf[r->id], ridx[IR_MAX_RANK];
  loop_nest nest;
  if (ir_type_numel(&r->type) > 0) {
    open_all(c, &r->type, ridx, &nest);
    be_store(c, dt, out, be_linear_index(c, &r->type, ridx), identity(c, r));
    close_loops(c, &nest);
  }
  if (ir_type_numel(&x->type) > 0) {
    /* The first reduced axis of more than one row goes ROWS_PER_VISIT rows at a time. */
    int a = -1;
    for (int d = 0; d < x->type.rank && a < 0; d++)
      if (reduced[d] && x->type.dims[d] > 1) a = d;
    int64_t rows = a >= 0 ? x->type.dims[a] : 1;
    int most = long_body(k) ? ROWS_PER_VISIT_LONG : ROWS_PER_VISIT;
    int per = rows < most ? (int)rows : most;
    accumulate_rows(k, r, reduced, a, rows / per, 0, per);
    if (rows % per) accumulate_rows(k, r, reduced, a, 1, rows - rows % per, (int)(rows % per));
  }
  if (r->op == IR_OP_REDUCE_MEAN && ir_type_numel(&r->type) > 0) {
    open_all(c, &r->type, ridx, &nest);
    LLVMValueRef at = be_linear_index(c, &r->type, ridx);
    be_store(c, dt, out, at, LLVMBuildFDiv(c->b, be_load(c, dt, out, at), be_const_of(c, dt, (double)count), ""));
    close_loops(c, &nest);
  }
}

void be_emit_reduce(be_kernel *k) {
  be_ctx *c = k->c;
  const be_group *g = &k->plan->groups[k->group];
  const ir_node *r = g->sink, *x = r->args[0];
  const ir_type *space = &x->type;
  ir_dtype dt = r->type.dtype;
  if (ir_type_numel(space) == 0 && ir_type_numel(&r->type) == 0) return;

  bool reduced[IR_MAX_RANK] = {false}, kept[IR_MAX_RANK] = {false};
  int64_t count = 1;
  for (int i = 0; i < r->attrs.naxes; i++) {
    reduced[r->attrs.axes[i]] = true;
    count *= space->dims[r->attrs.axes[i]];
  }
  for (int d = 0; d < space->rank; d++) kept[d] = !reduced[d];
  if (space->rank > 0 && kept[space->rank - 1] && space->dims[space->rank - 1] > 1 &&
      r->op != IR_OP_LOGSUMEXP) {
    emit_reduce_rows(k, r, reduced, count);
    return;
  }

  LLVMValueRef idx[IR_MAX_RANK];
  loop_nest outer, inner;
  LLVMValueRef acc = be_entry_alloca(c, be_reg_type(c, dt), "acc");
  open_loops(c, space, kept, idx, &outer);

  /* Pass 1: sum or maximum (and the stores of materialised members). */
  LLVMBuildStore(c->b, identity(c, r), acc);
  if (count > 0) {
    open_loops(c, space, reduced, idx, &inner);
    be_memo_clear(k);
    be_store_members(k, idx);
    LLVMValueRef v = be_value_at(k, x, idx);
    LLVMBuildStore(c->b, combine(c, r, LLVMBuildLoad2(c->b, be_reg_type(c, dt), acc, ""), v), acc);
    be_memo_clear(k);
    close_loops(c, &inner);
  }
  LLVMValueRef result = LLVMBuildLoad2(c->b, be_reg_type(c, dt), acc, "");

  if (r->op == IR_OP_REDUCE_MEAN) {
    result = LLVMBuildFDiv(c->b, result, be_const_of(c, dt, (double)count), "");
  } else if (r->op == IR_OP_LOGSUMEXP && count > 0) {
    /* Pass 2: sum of exp(x - max); an all -inf slice uses 0 as its shift (result -inf). */
    LLVMValueRef isinf = LLVMBuildFCmp(c->b, LLVMRealOEQ, result, be_const_of(c, dt, -INFINITY), "");
    LLVMValueRef shift = LLVMBuildSelect(c->b, isinf, be_const_of(c, dt, 0), result, "");
    LLVMValueRef sum = be_entry_alloca(c, be_reg_type(c, dt), "sum");
    LLVMBuildStore(c->b, be_const_of(c, dt, 0), sum);
    open_loops(c, space, reduced, idx, &inner);
    be_memo_clear(k);
    LLVMValueRef d = LLVMBuildFSub(c->b, be_value_at(k, x, idx), shift, "");
    LLVMValueRef e = be_exp(c, d);
    LLVMBuildStore(c->b, be_fadd_reassoc(c, LLVMBuildLoad2(c->b, be_reg_type(c, dt), sum, ""), e), sum);
    be_memo_clear(k);
    close_loops(c, &inner);
    LLVMValueRef s = LLVMBuildLoad2(c->b, be_reg_type(c, dt), sum, "");
    LLVMValueRef l = be_log(c, s);
    result = LLVMBuildFAdd(c->b, shift, l, "");
  }

  LLVMValueRef ridx[IR_MAX_RANK];
  result_index(c, r, reduced, idx, ridx);
  be_store(c, dt, k->buf[r->id], be_linear_index(c, &r->type, ridx), result);
  close_loops(c, &outer);
}

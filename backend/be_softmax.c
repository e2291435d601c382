/* softmax and log_softmax along one axis, numerically stable: for every slice along the
 * axis, the maximum, then the sum of exp(x - max), then the result
 *   softmax      exp(x - max) / sum
 *   log_softmax  (x - max) - log(sum)
 * The operand comes through be_value_at, so elementwise producers may be fused in.
 *
 * Slices are short (a row of 10 class scores) and many, so the work is done a block of slices
 * at a time, in phases: every slice's maximum, every slice's sum, then log(sum) or 1/sum for
 * the whole block as one vector loop, then the results. Done slice by slice, each slice was one
 * long chain (maximum, exp, a horizontal sum, log, the stores) that nothing overlapped; in
 * phases, the slices of a phase are independent and the log runs on vectors of them. */
#include <math.h>

#include "be_internal.h"

enum { BLOCK = 64 }; /* slices per block: the per-slice scalars live in two stack arrays */

typedef struct {
  const ir_node *s, *x;
  int axis;
  bool log;                  /* log_softmax */
  ir_type slices;            /* x's shape with the axis of size 1: one element per slice */
  LLVMValueRef max, sum;     /* [BLOCK x dt] per-slice maximum, then sum (then log or 1/sum) */
} softmax_ctx;

/* idx (all axes but the axis) of flat slice number s: row-major over sc->slices. */
static void slice_index(be_ctx *c, const softmax_ctx *sc, LLVMValueRef s, LLVMValueRef *idx) {
  int64_t stride = 1;
  for (int d = sc->slices.rank - 1; d >= 0; d--) {
    int64_t n = sc->slices.dims[d];
    if (n == 1) {
      idx[d] = be_i64(c, 0);
      continue;
    }
    LLVMValueRef q = stride == 1 ? s : LLVMBuildUDiv(c->b, s, be_i64(c, stride), "");
    idx[d] = stride * n == ir_type_numel(&sc->slices) ? q : LLVMBuildURem(c->b, q, be_i64(c, n), "");
    stride *= n;
  }
}

/* Opens the loop along the axis: idx[axis] set. */
static void axis_open(be_kernel *k, const softmax_ctx *sc, be_loop *l, LLVMValueRef *idx) {
  int64_t n = sc->x->type.dims[sc->axis];
  idx[sc->axis] = n == 1 ? be_i64(k->c, 0) : be_loop_begin(k->c, l, n, "s");
}

/* Opens the loop along the axis and returns x at idx. */
static LLVMValueRef along_open(be_kernel *k, const softmax_ctx *sc, be_loop *l, LLVMValueRef *idx) {
  axis_open(k, sc, l, idx);
  be_memo_clear(k);
  return be_value_at(k, sc->x, idx);
}

/* The same loop, reading the result buffer instead. */
static LLVMValueRef out_open(be_kernel *k, const softmax_ctx *sc, be_loop *l, LLVMValueRef *idx, LLVMValueRef out) {
  axis_open(k, sc, l, idx);
  return be_load(k->c, sc->s->type.dtype, out, be_linear_index(k->c, &sc->s->type, idx));
}

static void along_close(be_kernel *k, const softmax_ctx *sc, be_loop *l) {
  be_memo_clear(k);
  if (sc->x->type.dims[sc->axis] == 1) return;
  be_loop_end(k->c, l);
  be_loop_keep(k->c, l);
}

/* Integers in the order of the floats whose bits they are (negative floats have their
 * magnitude bits flipped), and back again: the same map undoes itself. An integer maximum
 * vectorises without conditions, where LLVM keeps a float maxnum loop scalar. A NaN orders
 * beyond an infinity; whichever way it goes, it reaches every result of its slice through exp. */
static LLVMValueRef order_key(be_ctx *c, LLVMValueRef bits) {
  LLVMTypeRef it = LLVMTypeOf(bits);
  unsigned w = LLVMGetIntTypeWidth(it);
  LLVMValueRef sign = LLVMBuildAShr(c->b, bits, LLVMConstInt(it, w - 1, 0), "");
  LLVMValueRef mag = LLVMBuildAnd(c->b, sign, LLVMConstInt(it, (~0ull) >> (65 - w), 0), "");
  return LLVMBuildXor(c->b, bits, mag, "");
}

static LLVMValueRef slot(be_ctx *c, const softmax_ctx *sc, LLVMValueRef arr, LLVMValueRef t) {
  LLVMValueRef at[2] = {be_i64(c, 0), t};
  return LLVMBuildInBoundsGEP2(c->b, LLVMArrayType(be_reg_type(c, sc->s->type.dtype), BLOCK), arr, at, 2, "");
}

/* Ends a loop over the slices of a block (or over its elements): kept rolled. Once the loop
 * vectoriser has turned a short slice into one masked vector, LLVM would unroll the loop
 * over slices 4 or 5 times, and with it every exp and log of the phase; those copies cost
 * compile time and buy nothing, as the slices of a phase are already independent. */
static void block_loop_end(be_ctx *c, be_loop *l) {
  be_loop_end(c, l);
  be_loop_keep(c, l);
}

/* The phases over the block of n slices that starts at slice s0. */
static void emit_block(be_kernel *k, softmax_ctx *sc, LLVMValueRef s0, int64_t n) {
  be_ctx *c = k->c;
  ir_dtype dt = sc->s->type.dtype;
  LLVMTypeRef t = be_reg_type(c, dt);
  LLVMValueRef out = k->buf[sc->s->id], idx[IR_MAX_RANK], acc = be_entry_alloca(c, t, "acc");
  be_loop lt, l;

  /* 1: the maximum, as integer keys (order_key), and the stores of materialised members,
   * which see every element here once. */
  LLVMTypeRef it = dt == IR_F64 ? c->i64 : c->i32;
  LLVMValueRef key = be_entry_alloca(c, it, "key");
  LLVMValueRef ti = be_loop_begin(c, &lt, n, "t");
  slice_index(c, sc, LLVMBuildAdd(c->b, s0, ti, ""), idx);
  LLVMBuildStore(c->b, order_key(c, LLVMBuildBitCast(c->b, be_const_of(c, dt, -INFINITY), it, "")), key);
  LLVMValueRef v = along_open(k, sc, &l, idx);
  be_store_members(k, idx);
  LLVMValueRef kv[2] = {LLVMBuildLoad2(c->b, it, key, ""), order_key(c, LLVMBuildBitCast(c->b, v, it, ""))};
  LLVMBuildStore(c->b, be_intrinsic(c, "llvm.smax", it, kv, 2), key);
  along_close(k, sc, &l);
  LLVMValueRef m = LLVMBuildBitCast(c->b, order_key(c, LLVMBuildLoad2(c->b, it, key, "")), t, "");
  /* A slice of -inf only: shift by 0 so exp gives 0 rather than NaN. */
  LLVMValueRef isinf = LLVMBuildFCmp(c->b, LLVMRealOEQ, m, be_const_of(c, dt, -INFINITY), "");
  LLVMBuildStore(c->b, LLVMBuildSelect(c->b, isinf, be_const_of(c, dt, 0), m, ""), slot(c, sc, sc->max, ti));
  block_loop_end(c, &lt);

  /* 2: exp(x - max) into the result (softmax scales it in phase 4, log_softmax overwrites it),
   * then the sums. Apart, the slices of each loop are short independent chains that overlap;
   * together, each slice was one long chain (an exp, then a horizontal sum). */
  bool last = sc->axis == sc->x->type.rank - 1;
  ti = be_loop_begin(c, &lt, n, "t");
  slice_index(c, sc, LLVMBuildAdd(c->b, s0, ti, ""), idx);
  m = LLVMBuildLoad2(c->b, t, slot(c, sc, sc->max, ti), "");
  v = along_open(k, sc, &l, idx);
  LLVMValueRef d = LLVMBuildFSub(c->b, v, m, "");
  be_store(c, dt, out, be_linear_index(c, &sc->s->type, idx), last ? d : be_exp(c, d));
  along_close(k, sc, &l);
  block_loop_end(c, &lt);
  if (last) {
    /* Slices along the last axis lie end to end: the exp runs over the block's n * len
     * elements as one flat loop of whole vectors, not one part-filled vector per slice. */
    int64_t len = sc->x->type.dims[sc->axis];
    LLVMValueRef base = LLVMBuildMul(c->b, s0, be_i64(c, len), "");
    LLVMValueRef f = be_loop_begin(c, &l, n * len, "f");
    LLVMValueRef at = LLVMBuildAdd(c->b, base, f, "");
    be_store(c, dt, out, at, be_exp(c, be_load(c, dt, out, at)));
    block_loop_end(c, &l);
  }

  ti = be_loop_begin(c, &lt, n, "t");
  slice_index(c, sc, LLVMBuildAdd(c->b, s0, ti, ""), idx);
  LLVMBuildStore(c->b, be_const_of(c, dt, 0), acc);
  LLVMValueRef e = out_open(k, sc, &l, idx, out);
  LLVMBuildStore(c->b, be_fadd_reassoc(c, LLVMBuildLoad2(c->b, t, acc, ""), e), acc);
  along_close(k, sc, &l);
  LLVMBuildStore(c->b, LLVMBuildLoad2(c->b, t, acc, ""), slot(c, sc, sc->sum, ti));
  block_loop_end(c, &lt);

  /* 3: log(sum) or 1/sum of the whole block: a loop of vectors. */
  ti = be_loop_begin(c, &lt, n, "t");
  LLVMValueRef at = slot(c, sc, sc->sum, ti), s = LLVMBuildLoad2(c->b, t, at, "");
  LLVMBuildStore(c->b, sc->log ? be_log(c, s) : LLVMBuildFDiv(c->b, be_const_of(c, dt, 1), s, ""), at);
  block_loop_end(c, &lt);

  /* 4: the results. log_softmax subtracts max and log(sum) one after the other: max + log(sum)
   * first would round to the ulp of max, an error that exp(y) (the gradient's softmax) makes
   * relative. */
  ti = be_loop_begin(c, &lt, n, "t");
  slice_index(c, sc, LLVMBuildAdd(c->b, s0, ti, ""), idx);
  LLVMValueRef scale = LLVMBuildLoad2(c->b, t, slot(c, sc, sc->sum, ti), "");
  if (sc->log) {
    m = LLVMBuildLoad2(c->b, t, slot(c, sc, sc->max, ti), "");
    v = along_open(k, sc, &l, idx);
    LLVMValueRef y = LLVMBuildFSub(c->b, LLVMBuildFSub(c->b, v, m, ""), scale, "");
    be_store(c, dt, out, be_linear_index(c, &sc->s->type, idx), y);
  } else {
    LLVMValueRef e = out_open(k, sc, &l, idx, out);
    be_store(c, dt, out, be_linear_index(c, &sc->s->type, idx), LLVMBuildFMul(c->b, e, scale, ""));
  }
  along_close(k, sc, &l);
  block_loop_end(c, &lt);
}

void be_emit_softmax(be_kernel *k) {
  be_ctx *c = k->c;
  const be_group *g = &k->plan->groups[k->group];
  softmax_ctx sc = {.s = g->sink, .x = g->sink->args[0], .axis = (int)g->sink->attrs.axis,
                    .log = g->sink->op == IR_OP_LOG_SOFTMAX};
  if (ir_type_numel(&sc.x->type) == 0) return;
  sc.slices = sc.x->type;
  sc.slices.dims[sc.axis] = 1;
  LLVMTypeRef arr = LLVMArrayType(be_reg_type(c, sc.s->type.dtype), BLOCK);
  sc.max = be_entry_alloca(c, arr, "max");
  sc.sum = be_entry_alloca(c, arr, "sum");
  int64_t nslices = ir_type_numel(&sc.slices), full = nslices / BLOCK, rest = nslices % BLOCK;
  if (full > 0) {
    be_loop lb;
    LLVMValueRef b = be_loop_begin(c, &lb, full, "block");
    emit_block(k, &sc, LLVMBuildMul(c->b, b, be_i64(c, BLOCK), ""), BLOCK);
    be_loop_end(c, &lb);
  }
  if (rest > 0) emit_block(k, &sc, be_i64(c, full * BLOCK), rest);
}

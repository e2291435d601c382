/* Elementwise code generation: the scalar emitter of every elementwise op (one table indexed
 * by op), the evaluation of a node at an index inside a loop body (be_value_at, which inlines
 * the ops of the kernel being emitted and loads everything else from its buffer), and the
 * loop nest of a fused elementwise kernel. */
#include <stdlib.h>
#include <string.h>

#include <llvm-c/DebugInfo.h>

#include "be_internal.h"

/* ---- scalar emitters ------------------------------------------------------------------ */

static bool is_float(const ir_node *n, int arg) {
  return ir_dtype_is_float(arg < 0 ? n->type.dtype : n->args[arg]->type.dtype);
}
static bool is_signed_int(ir_dtype dt) { return dt == IR_I32 || dt == IR_I64; }

static LLVMValueRef zero_of(be_ctx *c, const ir_node *n) { return be_const_of(c, n->type.dtype, 0); }

static LLVMValueRef s_neg(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return is_float(n, 0) ? LLVMBuildFNeg(c->b, a[0], "") : LLVMBuildNeg(c->b, a[0], "");
}
static LLVMValueRef s_abs(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  if (is_float(n, 0)) return be_intrinsic(c, "llvm.fabs", be_reg_type(c, n->type.dtype), a, 1);
  if (!is_signed_int(n->type.dtype)) return a[0];
  LLVMValueRef neg = LLVMBuildICmp(c->b, LLVMIntSLT, a[0], zero_of(c, n), "");
  return LLVMBuildSelect(c->b, neg, LLVMBuildNeg(c->b, a[0], ""), a[0], "");
}
/* sign: 1, -1 or 0 (NaN gives 0, as (x > 0) - (x < 0) does in C). */
static LLVMValueRef s_sign(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  ir_dtype dt = n->type.dtype;
  LLVMValueRef pos, neg;
  if (is_float(n, 0)) {
    pos = LLVMBuildFCmp(c->b, LLVMRealOGT, a[0], zero_of(c, n), "");
    neg = LLVMBuildFCmp(c->b, LLVMRealOLT, a[0], zero_of(c, n), "");
  } else {
    pos = LLVMBuildICmp(c->b, is_signed_int(dt) ? LLVMIntSGT : LLVMIntUGT, a[0], zero_of(c, n), "");
    neg = LLVMBuildICmp(c->b, LLVMIntSLT, a[0], zero_of(c, n), "");
    if (!is_signed_int(dt)) neg = LLVMConstInt(c->i1, 0, 0);
  }
  LLVMValueRef v = LLVMBuildSelect(c->b, neg, be_const_of(c, dt, -1), zero_of(c, n), "");
  return LLVMBuildSelect(c->b, pos, be_const_of(c, dt, 1), v, "");
}
static LLVMValueRef s_exp(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  (void)n;
  return be_exp(c, a[0]);
}
static LLVMValueRef s_log(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  (void)n;
  return be_log(c, a[0]);
}
static LLVMValueRef s_sqrt(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return be_intrinsic(c, "llvm.sqrt", be_reg_type(c, n->type.dtype), a, 1);
}
static LLVMValueRef s_rsqrt(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  LLVMValueRef s = s_sqrt(c, n, a);
  return LLVMBuildFDiv(c->b, be_const_of(c, n->type.dtype, 1), s, "");
}
static LLVMValueRef s_tanh(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return be_libm(c, "tanhf", "tanh", n->type.dtype, a, 1);
}
/* 1 / (1 + exp(-x)): saturates cleanly to 0 and 1 at both ends. */
static LLVMValueRef s_sigmoid(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  ir_dtype dt = n->type.dtype;
  LLVMValueRef negx = LLVMBuildFNeg(c->b, a[0], "");
  LLVMValueRef e = be_exp(c, negx);
  LLVMValueRef den = LLVMBuildFAdd(c->b, be_const_of(c, dt, 1), e, "");
  return LLVMBuildFDiv(c->b, be_const_of(c, dt, 1), den, "");
}
static LLVMValueRef s_relu(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  LLVMValueRef pos = is_float(n, 0)
                         ? LLVMBuildFCmp(c->b, LLVMRealOGT, a[0], zero_of(c, n), "")
                         : LLVMBuildICmp(c->b, LLVMIntSGT, a[0], zero_of(c, n), "");
  return LLVMBuildSelect(c->b, pos, a[0], zero_of(c, n), "");
}
static LLVMValueRef s_cast(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  ir_dtype from = n->args[0]->type.dtype, to = n->type.dtype;
  LLVMTypeRef t = be_reg_type(c, to);
  if (from == to) return a[0];
  if (to == IR_BOOL)
    return ir_dtype_is_float(from)
               ? LLVMBuildFCmp(c->b, LLVMRealUNE, a[0], be_const_of(c, from, 0), "")
               : LLVMBuildICmp(c->b, LLVMIntNE, a[0], be_const_of(c, from, 0), "");
  if (from == IR_BOOL)
    return ir_dtype_is_float(to) ? LLVMBuildUIToFP(c->b, a[0], t, "") : LLVMBuildZExt(c->b, a[0], t, "");
  if (ir_dtype_is_float(from) && ir_dtype_is_float(to)) return LLVMBuildFPCast(c->b, a[0], t, "");
  if (ir_dtype_is_float(from)) return LLVMBuildFPToSI(c->b, a[0], t, "");
  if (ir_dtype_is_float(to)) return LLVMBuildSIToFP(c->b, a[0], t, "");
  return LLVMBuildIntCast2(c->b, a[0], t, 1, "");
}
static LLVMValueRef s_add(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return is_float(n, -1) ? LLVMBuildFAdd(c->b, a[0], a[1], "") : LLVMBuildAdd(c->b, a[0], a[1], "");
}
static LLVMValueRef s_sub(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return is_float(n, -1) ? LLVMBuildFSub(c->b, a[0], a[1], "") : LLVMBuildSub(c->b, a[0], a[1], "");
}
static LLVMValueRef s_mul(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return is_float(n, -1) ? LLVMBuildFMul(c->b, a[0], a[1], "") : LLVMBuildMul(c->b, a[0], a[1], "");
}
/* Integer division by zero gives 0 instead of undefined behaviour. */
static LLVMValueRef s_div(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  if (is_float(n, -1)) return LLVMBuildFDiv(c->b, a[0], a[1], "");
  LLVMValueRef zero = zero_of(c, n), one = be_const_of(c, n->type.dtype, 1);
  LLVMValueRef isz = LLVMBuildICmp(c->b, LLVMIntEQ, a[1], zero, "");
  LLVMValueRef den = LLVMBuildSelect(c->b, isz, one, a[1], "");
  LLVMValueRef q = is_signed_int(n->type.dtype) ? LLVMBuildSDiv(c->b, a[0], den, "")
                                                : LLVMBuildUDiv(c->b, a[0], den, "");
  return LLVMBuildSelect(c->b, isz, zero, q, "");
}
static LLVMValueRef s_pow(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return be_intrinsic(c, "llvm.pow", be_reg_type(c, n->type.dtype), a, 2);
}
static LLVMValueRef minmax(be_ctx *c, const ir_node *n, LLVMValueRef *a, bool max) {
  /* llvm.maximum / minimum propagate NaN, as the reference interpreter does. */
  if (is_float(n, -1))
    return be_intrinsic(c, max ? "llvm.maximum" : "llvm.minimum", be_reg_type(c, n->type.dtype), a, 2);
  bool sgn = is_signed_int(n->type.dtype);
  LLVMIntPredicate p = max ? (sgn ? LLVMIntSGT : LLVMIntUGT) : (sgn ? LLVMIntSLT : LLVMIntULT);
  return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, p, a[0], a[1], ""), a[0], a[1], "");
}
static LLVMValueRef s_max(be_ctx *c, const ir_node *n, LLVMValueRef *a) { return minmax(c, n, a, true); }
static LLVMValueRef s_min(be_ctx *c, const ir_node *n, LLVMValueRef *a) { return minmax(c, n, a, false); }

static LLVMValueRef compare(be_ctx *c, const ir_node *n, LLVMValueRef *a, LLVMRealPredicate fp,
                            LLVMIntPredicate sp, LLVMIntPredicate up) {
  ir_dtype dt = n->args[0]->type.dtype;
  if (ir_dtype_is_float(dt)) return LLVMBuildFCmp(c->b, fp, a[0], a[1], "");
  return LLVMBuildICmp(c->b, is_signed_int(dt) ? sp : up, a[0], a[1], "");
}
static LLVMValueRef s_eq(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return compare(c, n, a, LLVMRealOEQ, LLVMIntEQ, LLVMIntEQ);
}
static LLVMValueRef s_ne(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return compare(c, n, a, LLVMRealUNE, LLVMIntNE, LLVMIntNE);
}
static LLVMValueRef s_lt(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return compare(c, n, a, LLVMRealOLT, LLVMIntSLT, LLVMIntULT);
}
static LLVMValueRef s_le(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return compare(c, n, a, LLVMRealOLE, LLVMIntSLE, LLVMIntULE);
}
static LLVMValueRef s_gt(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return compare(c, n, a, LLVMRealOGT, LLVMIntSGT, LLVMIntUGT);
}
static LLVMValueRef s_ge(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return compare(c, n, a, LLVMRealOGE, LLVMIntSGE, LLVMIntUGE);
}
static LLVMValueRef s_select(be_ctx *c, const ir_node *n, LLVMValueRef *a) {
  return LLVMBuildSelect(c->b, a[0], a[1], a[2], "");
}

/* Every op has a row: NULL for ops that are not elementwise (they have emitters of their own
 * or, like arguments, are only ever loaded). */
static const be_scalar_fn scalar_emitters[] = {
    [IR_OP_CONST] = NULL,     [IR_OP_IOTA] = NULL,       [IR_OP_INPUT] = NULL,
    [IR_OP_PARAM] = NULL,     [IR_OP_STATE] = NULL,      [IR_OP_NEG] = s_neg,
    [IR_OP_ABS] = s_abs,      [IR_OP_SIGN] = s_sign,     [IR_OP_EXP] = s_exp,
    [IR_OP_LOG] = s_log,      [IR_OP_SQRT] = s_sqrt,     [IR_OP_RSQRT] = s_rsqrt,
    [IR_OP_TANH] = s_tanh,    [IR_OP_SIGMOID] = s_sigmoid, [IR_OP_RELU] = s_relu,
    [IR_OP_CAST] = s_cast,    [IR_OP_ADD] = s_add,       [IR_OP_SUB] = s_sub,
    [IR_OP_MUL] = s_mul,      [IR_OP_DIV] = s_div,       [IR_OP_POW] = s_pow,
    [IR_OP_MAX] = s_max,      [IR_OP_MIN] = s_min,       [IR_OP_EQ] = s_eq,
    [IR_OP_NE] = s_ne,        [IR_OP_LT] = s_lt,         [IR_OP_LE] = s_le,
    [IR_OP_GT] = s_gt,        [IR_OP_GE] = s_ge,         [IR_OP_SELECT] = s_select,
    [IR_OP_REDUCE_SUM] = NULL, [IR_OP_REDUCE_MEAN] = NULL, [IR_OP_REDUCE_MAX] = NULL,
    [IR_OP_MATMUL] = NULL,    [IR_OP_RESHAPE] = NULL,    [IR_OP_TRANSPOSE] = NULL,
    [IR_OP_BROADCAST] = NULL, [IR_OP_SLICE] = NULL,      [IR_OP_PAD] = NULL,
    [IR_OP_CONCAT] = NULL,    [IR_OP_ONE_HOT] = NULL,    [IR_OP_GATHER] = NULL,
    [IR_OP_SOFTMAX] = NULL,   [IR_OP_LOG_SOFTMAX] = NULL, [IR_OP_LOGSUMEXP] = NULL,
};
_Static_assert(sizeof scalar_emitters / sizeof scalar_emitters[0] == IR_OP_COUNT,
               "every op of ops.def needs a row in scalar_emitters");

be_scalar_fn be_scalar_emitter(ir_opcode op) { return scalar_emitters[op]; }

bool be_scalar_code_is_long(ir_opcode op) {
  return op == IR_OP_EXP || op == IR_OP_LOG || op == IR_OP_SIGMOID || op == IR_OP_TANH || op == IR_OP_POW;
}

/* ---- evaluation at an index ------------------------------------------------------------ */

/* Values computed in the current loop body, so a node used twice is emitted once. */
typedef struct {
  int id, rank;
  LLVMValueRef idx[IR_MAX_RANK];
  LLVMValueRef value;
} memo_entry;

struct be_memo {
  int n, cap;
  memo_entry *e;
};

void be_memo_clear(be_kernel *k) {
  if (k->memo) k->memo->n = 0;
}

static LLVMValueRef memo_find(be_kernel *k, const ir_node *n, LLVMValueRef *idx) {
  if (!k->memo) return NULL;
  for (int i = 0; i < k->memo->n; i++) {
    memo_entry *e = &k->memo->e[i];
    if (e->id == n->id && e->rank == n->type.rank &&
        memcmp(e->idx, idx, sizeof(LLVMValueRef) * (size_t)n->type.rank) == 0)
      return e->value;
  }
  return NULL;
}

void be_memo_put(be_kernel *k, const ir_node *n, LLVMValueRef *idx, LLVMValueRef v) {
  if (!k->memo) {
    k->memo = calloc(1, sizeof *k->memo);
    IR_ASSERT(k->memo);
  }
  be_memo *m = k->memo;
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 32;
    m->e = realloc(m->e, sizeof *m->e * (size_t)m->cap);
    IR_ASSERT(m->e);
  }
  memo_entry *e = &m->e[m->n++];
  e->id = n->id;
  e->rank = n->type.rank;
  memcpy(e->idx, idx, sizeof(LLVMValueRef) * (size_t)n->type.rank);
  e->value = v;
}

void be_memo_free(be_kernel *k) {
  if (k->memo) free(k->memo->e);
  free(k->memo);
  k->memo = NULL;
}

bool be_is_inline(const be_kernel *k, const ir_node *n) {
  if (n->op == IR_OP_CONST || n->op == IR_OP_IOTA) return true;
  if (k->plan->group_of[n->id] != k->group) return false;
  /* The kernel's reduction, softmax or matmul is written by its own emitter, not inlined. */
  return n != k->plan->groups[k->group].sink;
}

void be_broadcast_index(be_ctx *c, const ir_type *from, const ir_type *to, LLVMValueRef *idx,
                        LLVMValueRef *out) {
  int shift = to->rank - from->rank;
  for (int d = 0; d < from->rank; d++)
    out[d] = from->dims[d] == 1 ? be_i64(c, 0) : idx[d + shift];
}

static void fail(be_kernel *k, const char *msg, const ir_node *n) {
  if (!k->error) {
    k->error = true;
    snprintf(k->errmsg, sizeof k->errmsg, "%s (op %s, %%%d)", msg, ir_ops[n->op].name, n->id);
  }
}

LLVMValueRef be_value_at(be_kernel *k, const ir_node *n, LLVMValueRef *idx) {
  be_ctx *c = k->c;
  LLVMValueRef v = memo_find(k, n, idx);
  if (v) return v;
  if (!be_is_inline(k, n)) {
    LLVMValueRef buf = k->buf[n->id];
    if (!buf) {
      fail(k, "value has no buffer in this kernel", n);
      return LLVMGetUndef(be_reg_type(c, n->type.dtype));
    }
    v = be_load(c, n->type.dtype, buf, be_linear_index(c, &n->type, idx));
  } else if (be_layout_emitter(n->op)) {
    v = be_layout_emitter(n->op)(k, n, idx);
  } else if (be_scalar_emitter(n->op)) {
    LLVMValueRef args[3];
    IR_ASSERT(n->nargs <= 3);
    for (int i = 0; i < n->nargs; i++) {
      LLVMValueRef aidx[IR_MAX_RANK];
      be_broadcast_index(c, &n->args[i]->type, &n->type, idx, aidx);
      args[i] = be_value_at(k, n->args[i], aidx);
    }
    v = be_scalar_emitter(n->op)(c, n, args);
  } else {
    fail(k, "op cannot be computed inside a fused kernel", n);
    return LLVMGetUndef(be_reg_type(c, n->type.dtype));
  }
  be_memo_put(k, n, idx, v);
  return v;
}

/* ---- loop nests ------------------------------------------------------------------------ */

/* Loops of at most this many iterations may still be unrolled in full: LLVM widens the loop
 * around them with interleaved (shuffled) loads, which serves pairs and triples well. */
enum { UNROLL_MAX_TRIP = 4 };

void be_loop_keep(be_ctx *c, const be_loop *l) {
  if (l->n <= UNROLL_MAX_TRIP) return;
  be_loop_no_unroll(c, l);
}

/* Marks the loop with llvm.loop hints, each a string and, where given, a boolean operand. */
static void set_loop_hints(be_ctx *c, const be_loop *l, const char *const *names, const int *flags, int n) {
  /* The latch is the header's conditional predecessor. Its loop ID must refer to itself: a
   * temporary first operand, then replaced by the node (which makes the node distinct). */
  LLVMValueRef latch_br = NULL;
  for (LLVMUseRef u = LLVMGetFirstUse(LLVMBasicBlockAsValue(l->header)); u; u = LLVMGetNextUse(u)) {
    LLVMValueRef user = LLVMGetUser(u);
    if (LLVMIsABranchInst(user) && LLVMIsConditional(user)) latch_br = user;
  }
  IR_ASSERT(latch_br && n < 4);
  LLVMMetadataRef ops[4];
  ops[0] = LLVMTemporaryMDNode(c->ctx, NULL, 0);
  for (int i = 0; i < n; i++) {
    LLVMMetadataRef hint[2] = {LLVMMDStringInContext2(c->ctx, names[i], strlen(names[i])),
                               flags[i] < 0 ? NULL : LLVMValueAsMetadata(LLVMConstInt(c->i1, (unsigned)flags[i], 0))};
    ops[i + 1] = LLVMMDNodeInContext2(c->ctx, hint, flags[i] < 0 ? 1 : 2);
  }
  LLVMMetadataRef id = LLVMMDNodeInContext2(c->ctx, ops, (size_t)n + 1);
  LLVMMetadataReplaceAllUsesWith(ops[0], id);
  LLVMSetMetadata(latch_br, LLVMGetMDKindIDInContext(c->ctx, "llvm.loop", 9), LLVMMetadataAsValue(c->ctx, id));
}

void be_loop_no_unroll(be_ctx *c, const be_loop *l) {
  set_loop_hints(c, l, (const char *const[]){"llvm.loop.unroll.disable"}, (const int[]){-1}, 1);
}

void be_loop_scalar(be_ctx *c, const be_loop *l) {
  set_loop_hints(c, l, (const char *const[]){"llvm.loop.unroll.disable", "llvm.loop.vectorize.enable"},
                 (const int[]){-1, 0}, 2);
}

void be_emit_loops(be_kernel *k, const ir_type *space, be_body_fn body, void *arg) {
  be_ctx *c = k->c;
  if (ir_type_numel(space) == 0) return;
  be_loop loops[IR_MAX_RANK];
  LLVMValueRef idx[IR_MAX_RANK];
  int nloops = 0;
  for (int d = 0; d < space->rank; d++) {
    if (space->dims[d] == 1) {
      idx[d] = be_i64(c, 0);
    } else {
      idx[d] = be_loop_begin(c, &loops[nloops++], space->dims[d], "i");
    }
  }
  be_memo_clear(k);
  body(k, idx, arg);
  be_memo_clear(k);
  for (int l = nloops - 1; l >= 0; l--) be_loop_end(c, &loops[l]);
  if (nloops > 0) be_loop_keep(c, &loops[nloops - 1]);
}

void be_store_members(be_kernel *k, LLVMValueRef *idx) {
  const be_group *g = &k->plan->groups[k->group];
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *m = g->nodes[i];
    if (m == g->sink || !k->plan->materialize[m->id]) continue;
    LLVMValueRef v = be_value_at(k, m, idx);
    be_store(k->c, m->type.dtype, k->buf[m->id], be_linear_index(k->c, &m->type, idx), v);
  }
}

static void elementwise_body(be_kernel *k, LLVMValueRef *idx, void *arg) {
  (void)arg;
  be_store_members(k, idx);
}

/* Whether node x, read or computed at index idx of `space`, is element linear(idx) of a
 * buffer of that shape or an elementwise function of such: then one flat index serves. */
static bool flat_value(const be_kernel *k, const ir_node *x, const ir_type *space) {
  if (x->op == IR_OP_CONST) return x->attrs.nvalues <= 1 || ir_shape_equal(&x->type, space);
  if (!ir_shape_equal(&x->type, space)) return false;
  if (!be_is_inline(k, x)) return true;
  if (x->op == IR_OP_IOTA || !be_scalar_emitter(x->op)) return false;
  for (int a = 0; a < x->nargs; a++)
    if (!flat_value(k, x->args[a], space)) return false;
  return true;
}

/* A kernel whose every value has the space's shape (an optimiser update, a scaled gradient)
 * runs as one loop over all its elements: whole vectors, instead of one part-filled vector
 * per row when rows are short. The flat index goes on the last axis longer than 1, where
 * be_linear_index gives it stride 1 and every other index is 0. */
static bool emit_flat(be_kernel *k, const ir_type *space) {
  const be_group *g = &k->plan->groups[k->group];
  int axis = -1;
  for (int d = 0; d < space->rank; d++)
    if (space->dims[d] > 1) axis = d;
  if (axis < 0) return false;
  for (int i = 0; i < g->nnodes; i++)
    if (!flat_value(k, g->nodes[i], space)) return false;
  LLVMValueRef idx[IR_MAX_RANK];
  for (int d = 0; d < space->rank; d++) idx[d] = be_i64(k->c, 0);
  be_loop l;
  idx[axis] = be_loop_begin(k->c, &l, ir_type_numel(space), "f");
  be_memo_clear(k);
  be_store_members(k, idx);
  be_memo_clear(k);
  be_loop_end(k->c, &l);
  return true;
}

void be_emit_elementwise(be_kernel *k) {
  const ir_type *space = &k->plan->groups[k->group].space;
  if (ir_type_numel(space) == 0 || emit_flat(k, space)) return;
  be_emit_loops(k, space, elementwise_body, NULL);
}

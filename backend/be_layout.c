/* Layout, label and source ops as index maps: the value of broadcast, transpose, slice, pad,
 * concat, reshape, one_hot, gather, iota and const at an output index, computed from their
 * operands at a mapped index. They therefore fuse into any loop nest for free; on their own
 * they are a one-node elementwise kernel that materialises the moved elements.
 *
 * Every out-of-range index is clamped before it is used (pad, concat, gather), so generated
 * code never reads outside a buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_internal.h"

static LLVMValueRef clamp(be_ctx *c, LLVMValueRef v, int64_t lo, int64_t hi) {
  LLVMValueRef below = LLVMBuildICmp(c->b, LLVMIntSLT, v, be_i64(c, lo), "");
  v = LLVMBuildSelect(c->b, below, be_i64(c, lo), v, "");
  LLVMValueRef above = LLVMBuildICmp(c->b, LLVMIntSGT, v, be_i64(c, hi), "");
  return LLVMBuildSelect(c->b, above, be_i64(c, hi), v, "");
}

/* const: a splat is an immediate; other values live in a private constant array. */
static LLVMValueRef l_const(be_kernel *k, const ir_node *n, LLVMValueRef *idx) {
  be_ctx *c = k->c;
  ir_dtype dt = n->type.dtype;
  if (n->attrs.nvalues <= 1) return be_const_of(c, dt, n->attrs.nvalues ? n->attrs.values[0] : 0);
  char name[160];
  snprintf(name, sizeof name, "const.%s.%d", k->plan->f->name, n->id);
  LLVMValueRef g = LLVMGetNamedGlobal(c->mod, name);
  int64_t count = n->attrs.nvalues;
  LLVMTypeRef et = be_mem_type(c, dt);
  if (!g) {
    LLVMValueRef *vals = calloc((size_t)count, sizeof *vals);
    IR_ASSERT(vals);
    for (int64_t i = 0; i < count; i++) {
      double v = n->attrs.values[i];
      vals[i] = ir_dtype_is_float(dt) ? LLVMConstReal(et, v)
                                      : LLVMConstInt(et, (unsigned long long)(int64_t)v, 1);
    }
    LLVMTypeRef at = LLVMArrayType2(et, (uint64_t)count);
    g = LLVMAddGlobal(c->mod, at, name);
    LLVMSetInitializer(g, LLVMConstArray2(et, vals, (uint64_t)count));
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(g, 64);
    free(vals);
  }
  return be_load(c, dt, g, be_linear_index(c, &n->type, idx));
}

static LLVMValueRef index_to(be_ctx *c, LLVMValueRef i, ir_dtype dt) {
  if (ir_dtype_is_float(dt)) return LLVMBuildSIToFP(c->b, i, be_reg_type(c, dt), "");
  return LLVMBuildIntCast2(c->b, i, be_reg_type(c, dt), 1, "");
}

static LLVMValueRef l_iota(be_kernel *k, const ir_node *n, LLVMValueRef *idx) {
  return index_to(k->c, idx[n->attrs.axis], n->type.dtype);
}

static LLVMValueRef l_broadcast(be_kernel *k, const ir_node *n, LLVMValueRef *idx) {
  LLVMValueRef aidx[IR_MAX_RANK];
  be_broadcast_index(k->c, &n->args[0]->type, &n->type, idx, aidx);
  return be_value_at(k, n->args[0], aidx);
}

/* reshape: same row-major order, so the linear index carries over. */
static LLVMValueRef l_reshape(be_kernel *k, const ir_node *n, LLVMValueRef *idx) {
  be_ctx *c = k->c;
  const ir_type *x = &n->args[0]->type;
  LLVMValueRef lin = be_linear_index(c, &n->type, idx), aidx[IR_MAX_RANK];
  for (int d = x->rank - 1; d >= 0; d--) {
    if (x->dims[d] == 1) {
      aidx[d] = be_i64(c, 0);
      continue;
    }
    aidx[d] = d == 0 ? lin : LLVMBuildURem(c->b, lin, be_i64(c, x->dims[d]), "");
    if (d > 0) lin = LLVMBuildUDiv(c->b, lin, be_i64(c, x->dims[d]), "");
  }
  return be_value_at(k, n->args[0], aidx);
}

/* transpose: result axis i is operand axis perm[i]. */
static LLVMValueRef l_transpose(be_kernel *k, const ir_node *n, LLVMValueRef *idx) {
  LLVMValueRef aidx[IR_MAX_RANK];
  for (int i = 0; i < n->type.rank; i++) aidx[n->attrs.axes[i]] = idx[i];
  return be_value_at(k, n->args[0], aidx);
}

static LLVMValueRef l_slice(be_kernel *k, const ir_node *n, LLVMValueRef *idx) {
  be_ctx *c = k->c;
  LLVMValueRef aidx[IR_MAX_RANK];
  for (int d = 0; d < n->type.rank; d++)
    aidx[d] = n->attrs.lo[d] ? LLVMBuildAdd(c->b, idx[d], be_i64(c, n->attrs.lo[d]), "") : idx[d];
  return be_value_at(k, n->args[0], aidx);
}

/* pad with zeros: inside the operand's window, its element; outside, 0. */
static LLVMValueRef l_pad(be_kernel *k, const ir_node *n, LLVMValueRef *idx) {
  be_ctx *c = k->c;
  const ir_type *x = &n->args[0]->type;
  LLVMValueRef aidx[IR_MAX_RANK], inside = LLVMConstInt(c->i1, 1, 0);
  for (int d = 0; d < x->rank; d++) {
    if (n->attrs.lo[d] == 0 && n->attrs.hi[d] == 0) {
      aidx[d] = idx[d];
      continue;
    }
    LLVMValueRef i = LLVMBuildSub(c->b, idx[d], be_i64(c, n->attrs.lo[d]), "");
    LLVMValueRef ge = LLVMBuildICmp(c->b, LLVMIntSGE, i, be_i64(c, 0), "");
    LLVMValueRef lt = LLVMBuildICmp(c->b, LLVMIntSLT, i, be_i64(c, x->dims[d]), "");
    inside = LLVMBuildAnd(c->b, inside, LLVMBuildAnd(c->b, ge, lt, ""), "");
    aidx[d] = x->dims[d] == 0 ? be_i64(c, 0) : clamp(c, i, 0, x->dims[d] - 1);
  }
  if (ir_type_numel(x) == 0) return be_const_of(c, n->type.dtype, 0);
  LLVMValueRef v = be_value_at(k, n->args[0], aidx);
  return LLVMBuildSelect(c->b, inside, v, be_const_of(c, n->type.dtype, 0), "");
}

/* concat: the piece whose range along the axis holds the index. */
static LLVMValueRef l_concat(be_kernel *k, const ir_node *n, LLVMValueRef *idx) {
  be_ctx *c = k->c;
  int axis = (int)n->attrs.axis;
  int64_t offs[n->nargs + 1];
  offs[0] = 0;
  for (int p = 0; p < n->nargs; p++) offs[p + 1] = offs[p] + n->args[p]->type.dims[axis];
  LLVMValueRef v = NULL;
  for (int p = n->nargs - 1; p >= 0; p--) {
    int64_t len = n->args[p]->type.dims[axis];
    if (len == 0) continue;
    LLVMValueRef aidx[IR_MAX_RANK];
    memcpy(aidx, idx, sizeof(LLVMValueRef) * (size_t)n->type.rank);
    LLVMValueRef local = LLVMBuildSub(c->b, idx[axis], be_i64(c, offs[p]), "");
    aidx[axis] = len == 1 ? be_i64(c, 0) : clamp(c, local, 0, len - 1);
    for (int d = 0; d < n->type.rank; d++)
      if (n->args[p]->type.dims[d] == 1) aidx[d] = be_i64(c, 0);
    LLVMValueRef piece = be_value_at(k, n->args[p], aidx);
    if (!v) {
      v = piece;
    } else {
      LLVMValueRef here = LLVMBuildICmp(c->b, LLVMIntSLT, idx[axis], be_i64(c, offs[p + 1]), "");
      v = LLVMBuildSelect(c->b, here, piece, v, "");
    }
  }
  return v ? v : be_const_of(c, n->type.dtype, 0);
}

static LLVMValueRef label_index(be_ctx *c, const ir_node *labels, LLVMValueRef v) {
  return labels->type.dtype == IR_I64 ? v : LLVMBuildSExt(c->b, v, c->i64, "");
}

/* one_hot: 1 where the last index equals the label; a label outside [0, depth) gives zeros. */
static LLVMValueRef l_one_hot(be_kernel *k, const ir_node *n, LLVMValueRef *idx) {
  be_ctx *c = k->c;
  LLVMValueRef label = label_index(c, n->args[0], be_value_at(k, n->args[0], idx));
  LLVMValueRef hit = LLVMBuildICmp(c->b, LLVMIntEQ, label, idx[n->type.rank - 1], "");
  return LLVMBuildSelect(c->b, hit, be_const_of(c, n->type.dtype, 1),
                         be_const_of(c, n->type.dtype, 0), "");
}

/* gather: result[j] = x[j with idx[j] inserted at axis]; the index is clamped into range
 * (the reference interpreter reports it as an error instead). */
static LLVMValueRef l_gather(be_kernel *k, const ir_node *n, LLVMValueRef *idx) {
  be_ctx *c = k->c;
  const ir_type *x = &n->args[0]->type;
  int axis = (int)n->attrs.axis;
  LLVMValueRef at = label_index(c, n->args[1], be_value_at(k, n->args[1], idx));
  LLVMValueRef xidx[IR_MAX_RANK];
  for (int d = 0, j = 0; d < x->rank; d++) {
    if (d == axis)
      xidx[d] = x->dims[d] <= 1 ? be_i64(c, 0) : clamp(c, at, 0, x->dims[d] - 1);
    else
      xidx[d] = idx[j++];
  }
  return be_value_at(k, n->args[0], xidx);
}

static const be_index_fn layout_emitters[] = {
    [IR_OP_CONST] = l_const,         [IR_OP_IOTA] = l_iota,         [IR_OP_INPUT] = NULL,
    [IR_OP_PARAM] = NULL,            [IR_OP_STATE] = NULL,          [IR_OP_NEG] = NULL,
    [IR_OP_ABS] = NULL,              [IR_OP_SIGN] = NULL,           [IR_OP_EXP] = NULL,
    [IR_OP_LOG] = NULL,              [IR_OP_SQRT] = NULL,           [IR_OP_RSQRT] = NULL,
    [IR_OP_TANH] = NULL,             [IR_OP_SIGMOID] = NULL,        [IR_OP_RELU] = NULL,
    [IR_OP_CAST] = NULL,             [IR_OP_ADD] = NULL,            [IR_OP_SUB] = NULL,
    [IR_OP_MUL] = NULL,              [IR_OP_DIV] = NULL,            [IR_OP_POW] = NULL,
    [IR_OP_MAX] = NULL,              [IR_OP_MIN] = NULL,            [IR_OP_EQ] = NULL,
    [IR_OP_NE] = NULL,               [IR_OP_LT] = NULL,             [IR_OP_LE] = NULL,
    [IR_OP_GT] = NULL,               [IR_OP_GE] = NULL,             [IR_OP_SELECT] = NULL,
    [IR_OP_REDUCE_SUM] = NULL,       [IR_OP_REDUCE_MEAN] = NULL,    [IR_OP_REDUCE_MAX] = NULL,
    [IR_OP_MATMUL] = NULL,           [IR_OP_RESHAPE] = l_reshape,   [IR_OP_TRANSPOSE] = l_transpose,
    [IR_OP_BROADCAST] = l_broadcast, [IR_OP_SLICE] = l_slice,       [IR_OP_PAD] = l_pad,
    [IR_OP_CONCAT] = l_concat,       [IR_OP_ONE_HOT] = l_one_hot,   [IR_OP_GATHER] = l_gather,
    [IR_OP_SOFTMAX] = NULL,          [IR_OP_LOG_SOFTMAX] = NULL,    [IR_OP_LOGSUMEXP] = NULL,
};
_Static_assert(sizeof layout_emitters / sizeof layout_emitters[0] == IR_OP_COUNT,
               "every op of ops.def needs a row in layout_emitters");

be_index_fn be_layout_emitter(ir_opcode op) { return layout_emitters[op]; }

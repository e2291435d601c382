/* The epilogue of a blocked matmul: the elementwise members the fuse pass put in the matmul's
 * kernel (bias add, activation, its mask), run on each row of tiles of the product while it
 * is in cache, or once over the product the plain loop nest left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_matmul.h"

/* The epilogue's stores of one element of C at idx: every value first, then the stores.
 * product: the element of the product, where it is staged (else read from its buffer). */
static void store_epilogue_element(be_kernel *ek, const be_group *grp, LLVMValueRef *idx, LLVMValueRef product) {
  const be_plan *p = ek->plan;
  be_memo_clear(ek);
  if (product) be_memo_put(ek, grp->sink, idx, product);
  LLVMValueRef vals[grp->nnodes + 1];
  for (int i = 0; i < grp->nnodes; i++) {
    const ir_node *m = grp->nodes[i];
    vals[i] = m != grp->sink && p->materialize[m->id] ? be_value_at(ek, m, idx) : NULL;
  }
  for (int i = 0; i < grp->nnodes; i++) {
    const ir_node *m = grp->nodes[i];
    if (vals[i]) be_store(ek->c, m->type.dtype, ek->buf[m->id], be_linear_index(ek->c, &m->type, idx), vals[i]);
  }
}

/* Element j of the staged row stage_row, or NULL when the product is not staged. */
static LLVMValueRef staged_element(be_mm_geom *g, LLVMValueRef stage_row, LLVMValueRef j) {
  return stage_row ? be_load(g->c, IR_F32, stage_row, j) : NULL;
}

/* `void epi(ptr noalias buffers..., i64 i0, i64 j0, i64 rows)`: the members of the matmul's
 * kernel that the plan stores (bias add, activation, its mask), for C's rows i0 .. i0+rows-1
 * and columns j0 .. j0+cols-1, from the product the micro-kernels left in C. Every value of
 * an element is computed before any is stored: the product may live in a member's buffer
 * (be_plan.c). One function per column count, whatever the rows: a row loop LLVM may not
 * unroll. Rows of a vector or more are a column loop that the loop vectoriser widens.
 * Narrower rows (10 classes) are unrolled here and packed by the SLP vectoriser into plain
 * vectors (8 + 2): the loop vectoriser would make each row one masked vector, and masked
 * loads of rows closer than a vector stall behind the masked stores of the row before.
 * A staged product (g->staged) comes in one more pointer, after the buffers: its row of
 * tiles, row r of it at r * N. */
LLVMValueRef be_mm_epilogue_fn(be_mm_geom *g, int64_t cols) {
  be_ctx *c = g->c;
  bool unrolled = cols < g->isa.vl;
  char name[256];
  snprintf(name, sizeof name, "%s.epi%lld", g->name, (long long)cols);
  LLVMValueRef fn = LLVMGetNamedFunction(c->mod, name);
  if (fn) return fn;
  LLVMBasicBlockRef saved = LLVMGetInsertBlock(c->b);
  int nptr = g->nbufs + g->staged;
  fn = be_begin_function_args(c, name, nptr, nptr, 3, true);
  const be_plan *p = g->k->plan;
  be_kernel ek = *g->k;
  ek.memo = NULL;
  ek.buf = calloc((size_t)p->nids + 1, sizeof(LLVMValueRef));
  IR_ASSERT(ek.buf);
  for (int id = 0; id < p->nids; id++)
    for (int q = 0; g->k->buf[id] && q < g->nbufs; q++)
      if (LLVMGetParam(g->kfn, (unsigned)q) == g->k->buf[id]) ek.buf[id] = LLVMGetParam(fn, (unsigned)q);
  be_loop lr, lj;
  LLVMValueRef idx[2];
  LLVMValueRef r = be_loop_begin_dyn(c, &lr, LLVMGetParam(fn, (unsigned)nptr + 2), "r");
  idx[0] = LLVMBuildAdd(c->b, LLVMGetParam(fn, (unsigned)nptr), r, "");
  LLVMValueRef j0 = LLVMGetParam(fn, (unsigned)nptr + 1);
  LLVMValueRef stage_row =
      g->staged ? be_mm_gep(c, LLVMGetParam(fn, (unsigned)g->nbufs), be_mm_scaled(c, r, g->N)) : NULL;
  if (unrolled) {
    for (int64_t j = 0; j < cols; j++) {
      idx[1] = be_mm_add_i64(c, j0, j);
      store_epilogue_element(&ek, &p->groups[g->k->group], idx, staged_element(g, stage_row, idx[1]));
    }
  } else {
    idx[1] = LLVMBuildAdd(c->b, j0, be_loop_begin(c, &lj, cols, "j"), "");
    store_epilogue_element(&ek, &p->groups[g->k->group], idx, staged_element(g, stage_row, idx[1]));
    be_loop_end(c, &lj);
    be_loop_no_unroll(c, &lj);
  }
  be_loop_end(c, &lr);
  be_loop_scalar(c, &lr);
  LLVMBuildRetVoid(c->b);
  if (ek.error && !g->k->error) {
    g->k->error = true;
    memcpy(g->k->errmsg, ek.errmsg, sizeof ek.errmsg);
  }
  be_memo_free(&ek);
  free(ek.buf);
  LLVMPositionBuilderAtEnd(c->b, saved);
  return fn;
}

void be_mm_call_epilogue(be_mm_geom *g, const be_mm_part *pc, LLVMValueRef epi, int64_t rows, int64_t next,
                         LLVMValueRef i) {
  if (be_mm_never(epi)) return;
  LLVMBasicBlockRef after = be_mm_when(g->c, epi);
  int nptr = g->nbufs + g->staged;
  LLVMValueRef args[nptr + 3];
  for (int q = 0; q < g->nbufs; q++) args[q] = pc->bufs[q];
  if (g->staged) args[g->nbufs] = pc->stage;
  args[nptr] = LLVMBuildAdd(g->c->b, pc->row0, i, "");
  args[nptr + 1] = pc->col0;
  args[nptr + 2] = be_i64(g->c, rows);
  be_mm_call(g->c, be_mm_epilogue_fn(g, next), args, nptr + 3);
  be_mm_when_end(g->c, after);
}


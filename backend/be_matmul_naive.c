/* The plain loop nest of a matmul the blocked kernel does not take (be_matmul.c): batched or
 * broadcast matmuls, other dtypes, operands computed inside the kernel, tiny products. For
 * each row i of C, the row is cleared, then for each p a broadcast A[i,p] times the row B[p,:]
 * is added to it (i-p-j), the p loop blocked so a panel of B stays in cache across rows of A. */
#include "be_matmul.h"

enum { KC = 256 }; /* rows of B per panel */

typedef struct {
  be_kernel *k;
  const ir_node *mm;
  LLVMValueRef *cidx, *aidx, *bidx;
  int arank, brank; /* batch ranks of A and B */
} mm_ctx;

/* C[b, i, :] += A[b, i, p] * B[b, p, :] for p in [p0, p0 + plen), every i. */
static void panel(mm_ctx *x, LLVMValueRef p0, int64_t plen) {
  be_kernel *k = x->k;
  be_ctx *c = k->c;
  const ir_node *mm = x->mm, *a = mm->args[0], *b = mm->args[1];
  const ir_type *ct = &mm->type, *at = &a->type, *bt = &b->type;
  int r = ct->rank;
  int64_t m = ct->dims[r - 2], n = ct->dims[r - 1];
  ir_dtype dt = ct->dtype;
  be_loop li, lj, lp;
  x->cidx[r - 2] = m == 1 ? be_i64(c, 0) : be_loop_begin(c, &li, m, "i");
  LLVMValueRef p = plen == 1 ? p0 : LLVMBuildAdd(c->b, p0, be_loop_begin(c, &lp, plen, "p"), "");
  x->aidx[x->arank] = x->cidx[r - 2];
  x->aidx[x->arank + 1] = at->dims[at->rank - 1] == 1 ? be_i64(c, 0) : p;
  be_memo_clear(k);
  LLVMValueRef av = be_value_at(k, a, x->aidx);
  x->bidx[x->brank] = bt->dims[bt->rank - 2] == 1 ? be_i64(c, 0) : p;
  x->cidx[r - 1] = n == 1 ? be_i64(c, 0) : be_loop_begin(c, &lj, n, "j");
  x->bidx[x->brank + 1] = bt->dims[bt->rank - 1] == 1 ? be_i64(c, 0) : x->cidx[r - 1];
  LLVMValueRef bv = be_value_at(k, b, x->bidx);
  LLVMValueRef ci = be_linear_index(c, ct, x->cidx);
  LLVMValueRef cv = be_load(c, dt, k->buf[mm->id], ci), sum;
  if (ir_dtype_is_float(dt)) {
    /* contract: a*b + c may become one fma */
    LLVMValueRef prod = LLVMBuildFMul(c->b, av, bv, "");
    LLVMSetFastMathFlags(prod, LLVMFastMathAllowContract);
    sum = LLVMBuildFAdd(c->b, cv, prod, "");
    LLVMSetFastMathFlags(sum, LLVMFastMathAllowContract);
  } else {
    sum = LLVMBuildAdd(c->b, cv, LLVMBuildMul(c->b, av, bv, ""), "");
  }
  be_store(c, dt, k->buf[mm->id], ci, sum);
  be_memo_clear(k);
  if (n != 1) be_loop_end(c, &lj);
  if (plen != 1) be_loop_end(c, &lp);
  if (m != 1) be_loop_end(c, &li);
}

void be_mm_emit_naive(be_kernel *k) {
  be_ctx *c = k->c;
  const be_group *g = &k->plan->groups[k->group];
  const ir_node *mm = g->sink, *a = mm->args[0], *b = mm->args[1];
  const ir_type *ct = &mm->type, *at = &a->type, *bt = &b->type;
  int r = ct->rank;
  int64_t m = ct->dims[r - 2], n = ct->dims[r - 1], kk = at->dims[at->rank - 1];
  ir_dtype dt = ct->dtype;
  if (ir_type_numel(ct) == 0) return;

  /* Batch loops over C's leading axes. */
  be_loop batch[IR_MAX_RANK];
  int nb = 0;
  LLVMValueRef cidx[IR_MAX_RANK];
  for (int d = 0; d < r - 2; d++)
    cidx[d] = ct->dims[d] == 1 ? be_i64(c, 0) : be_loop_begin(c, &batch[nb++], ct->dims[d], "b");

  /* Operand batch indices by broadcasting C's batch index. */
  ir_type cb = *ct, ab = *at, bb = *bt;
  cb.rank = r - 2;
  ab.rank = at->rank - 2;
  bb.rank = bt->rank - 2;
  LLVMValueRef aidx[IR_MAX_RANK], bidx[IR_MAX_RANK];
  be_broadcast_index(c, &ab, &cb, cidx, aidx);
  be_broadcast_index(c, &bb, &cb, cidx, bidx);

  be_loop li, lj;
  /* C[b, :, :] = 0 */
  cidx[r - 2] = m == 1 ? be_i64(c, 0) : be_loop_begin(c, &li, m, "i");
  cidx[r - 1] = n == 1 ? be_i64(c, 0) : be_loop_begin(c, &lj, n, "j");
  be_store(c, dt, k->buf[mm->id], be_linear_index(c, ct, cidx), be_const_of(c, dt, 0));
  if (n != 1) be_loop_end(c, &lj);
  if (m != 1) be_loop_end(c, &li);

  mm_ctx x = {.k = k, .mm = mm, .cidx = cidx, .aidx = aidx, .bidx = bidx, .arank = ab.rank,
              .brank = bb.rank};
  int64_t nfull = kk / KC, rem = kk % KC;
  if (nfull == 1) {
    panel(&x, be_i64(c, 0), KC);
  } else if (nfull > 1) {
    be_loop lpb;
    LLVMValueRef pb = be_loop_begin(c, &lpb, nfull, "pb");
    panel(&x, LLVMBuildMul(c->b, pb, be_i64(c, KC), ""), KC);
    be_loop_end(c, &lpb);
  }
  if (rem > 0) panel(&x, be_i64(c, nfull * KC), rem);
  for (int l = nb - 1; l >= 0; l--) be_loop_end(c, &batch[l]);
}


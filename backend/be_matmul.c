/* matmul: [..., m, k] @ [..., k, n] -> [..., m, n], batch axes broadcast.
 *
 * Two-dimensional f32 matmuls big enough to matter get the Goto / van de Geijn structure,
 * specialised to their static shapes:
 *
 *   tasks     C is cut into a grid of column (and, when C is narrow, row) blocks; each
 *             block is one task of the runtime's thread pool (runtime/rt_threads.h). The
 *             grid depends on the shapes only, so one thread or many compute every element
 *             of C with the same operations in the same order: bit-identical results.
 *   k blocks  K is cut into blocks of about 256 so a packed panel of B (kc x block width)
 *             stays in L2 while every row tile of A streams past it.
 *   packing   B's panel is copied into tiles of NR columns, kc rows of NR contiguous floats,
 *             zero-padded: the micro-kernel reads it with full-width vector loads. B read
 *             transposed (A·Bᵀ) is always packed; a small row-major B is read in place.
 *   A         row-major A is read in place: the micro-kernel broadcasts A(i, p) straight
 *             from it with static strides, and A's MR x kc sliver stays in L1 across the
 *             tiles of a row. Aᵀ's sliver is copied first (see plan_geometry).
 *   micro     an MR x NR tile of C in registers for the whole kc loop (be_matmul_kernel.c).
 *
 * Transposed operands are read in place: the fuse pass puts a `transpose` whose only user
 * is a matmul into the matmul's kernel, and this emitter reads the transpose's operand with
 * swapped strides instead of materialising it. Static sizes leave no remainder code where
 * the sizes divide: the last row tile, column tile and k block get micro-kernels of their
 * own only when they exist.
 *
 * Everything else (batched or broadcast matmuls, other dtypes, operands computed inside the
 * kernel, tiny products) uses the plain loop nest below: for each row i of C, the row is
 * cleared, then for each p a broadcast A[i,p] times the row B[p,:] is added to it (i-p-j),
 * the p loop blocked so a panel of B stays in cache across rows of A. */
#include <string.h>

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

static void emit_naive(be_kernel *k) {
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

/* ---- the blocked kernel ------------------------------------------------------------------ */

enum {
  KC_MAX = 256,        /* K up to KC_SINGLE is one block; beyond, blocks of about KC_MAX */
  KC_SINGLE = 384,
  NC_MAX = 512,        /* columns of C per task: a kc x 512 panel of B is 512 KiB */
  PACK_MIN = 16384,    /* a row-major B of fewer elements is read in place */
  SPLIT_FLOPS = 1 << 21, /* products below 2 MFLOP stay one task: the pool costs microseconds */
  TASKS = 4,           /* tasks a larger product is split into: balanced on 1, 2 or 4 threads */
};

typedef struct {
  be_ctx *c;
  be_mm_isa isa;
  const char *name;        /* the kernel function's name, for its helpers' names */
  int64_t M, N, K;
  int64_t a_rs, a_cs;      /* op(A)(i, p) at a + i*a_rs + p*a_cs */
  int64_t b_rs, b_cs;      /* op(B)(p, j) at b + p*b_rs + j*b_cs */
  int mr, nvec;            /* micro-tile: mr rows x nvec vectors */
  int64_t nr;              /* nvec * vl */
  int64_t kc, nkfull, kctail; /* K = nkfull * kc + kctail */
  bool pack_b, pack_a;
  int64_t tm, tn, cm, cn;  /* task grid, and the extent of every task but the last */
} mm_geom;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* The operand's buffer and strides as op(X)(r, s) = buf[r*rs + s*cs]: a buffer of this
 * kernel, or a transpose inside it of one. False when neither (the plain path then). */
static bool operand(be_kernel *k, const ir_node *x, LLVMValueRef *buf, int64_t *rs, int64_t *cs) {
  if (x->type.rank != 2) return false;
  if (!be_is_inline(k, x)) {
    *buf = k->buf[x->id];
    *rs = x->type.dims[1];
    *cs = 1;
    return *buf != NULL;
  }
  if (x->op != IR_OP_TRANSPOSE || x->attrs.naxes != 2 || x->attrs.axes[0] != 1) return false;
  const ir_node *src = x->args[0];
  if (be_is_inline(k, src) || !k->buf[src->id]) return false;
  *buf = k->buf[src->id];
  *rs = 1;
  *cs = src->type.dims[1];
  return true;
}

static void plan_geometry(mm_geom *g) {
  const be_mm_isa *isa = &g->isa;
  /* Accumulators plus B's vectors plus a broadcast fill the register file. */
  g->nvec = g->N <= isa->vl ? 1 : 2;
  int budget = isa->nregs - g->nvec - 2;
  g->mr = budget / g->nvec;
  /* More rows would fit with one vector, but rows of A 4 KiB apart then share an L1 set
   * beyond its ways (K = 1024): 12 rows measured fastest for either width. */
  if (g->mr > 12) g->mr = 12;
  if (g->mr > g->M) g->mr = (int)g->M;
  g->nr = (int64_t)g->nvec * isa->vl;
  if (g->K <= KC_SINGLE) {
    g->kc = g->K;
  } else {
    int64_t nb = ceil_div(g->K, KC_MAX);
    g->kc = ceil_div(ceil_div(g->K, nb), 4) * 4;
  }
  g->nkfull = g->K / g->kc;
  g->kctail = g->K % g->kc;
  g->pack_b = g->b_cs != 1 || (g->K * g->N >= PACK_MIN && g->M > g->mr);
  /* Aᵀ: the sliver's rows p are a_cs apart, and with a_cs a multiple of 1024 every one of
   * them falls in the same L1 set, so the sliver cannot stay in L1. A copy of it, mr x kc
   * contiguous, costs one vector load and store per k and is reused by every tile of the
   * row. Row-major A is read in place. */
  g->pack_a = g->a_cs != 1 && g->N > g->nr;

  int64_t ntn = ceil_div(g->N, g->nr), ntm = ceil_div(g->M, g->mr);
  int64_t want = (double)2 * g->M * g->N * g->K >= SPLIT_FLOPS ? TASKS : 1;
  int64_t per_n = ceil_div(ntn, want < ntn ? want : ntn);
  if (per_n * g->nr > NC_MAX) per_n = NC_MAX / g->nr;
  g->tn = ceil_div(ntn, per_n);
  g->cn = per_n * g->nr;
  if (g->cn > g->N) g->cn = g->N;
  int64_t per_m = ntm;
  if (g->tn < want) per_m = ceil_div(ntm, ceil_div(want, g->tn) < ntm ? ceil_div(want, g->tn) : ntm);
  g->tm = ceil_div(ntm, per_m);
  g->cm = per_m * g->mr;
  if (g->cm > g->M) g->cm = g->M;
}

/* A counted loop, or its only index when it runs once. */
static LLVMValueRef loop_or_one(be_ctx *c, be_loop *l, int64_t n, const char *name) {
  return n == 1 ? be_i64(c, 0) : be_loop_begin(c, l, n, name);
}
static void loop_or_one_end(be_ctx *c, be_loop *l, int64_t n) {
  if (n != 1) be_loop_end(c, l);
}

static LLVMValueRef scaled(be_ctx *c, LLVMValueRef i, int64_t by) {
  return LLVMBuildMul(c->b, i, be_i64(c, by), "");
}

static void call_ptrs(be_ctx *c, LLVMValueRef fn, LLVMValueRef *args, int n) {
  LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fn), fn, args, (unsigned)n, "");
}

/* The micro-kernels of one row of tiles: full column tiles, then the tail tile. */
static void emit_tile_row(mm_geom *g, int rows, int64_t kc, bool acc, int64_t next, LLVMValueRef a_tile,
                          LLVMValueRef b_blk, LLVMValueRef c_row, LLVMValueRef ap) {
  be_ctx *c = g->c;
  if (g->pack_a) {
    be_pack_a_spec pa = {.rows = rows, .kc = kc, .a_rs = g->a_rs, .a_cs = g->a_cs, .mr = g->mr};
    LLVMValueRef args[2] = {a_tile, ap};
    call_ptrs(c, be_mm_pack_a(c, &g->isa, &pa), args, 2);
    a_tile = ap;
  }
  be_mk_spec s = {.rows = rows, .nvec = g->nvec, .last_lanes = g->isa.vl, .kc = kc,
                  .a_rs = g->pack_a ? 1 : g->a_rs, .a_cs = g->pack_a ? g->mr : g->a_cs, .b_rs = g->pack_b ? g->nr : g->b_rs, .b_padded = g->pack_b,
                  .ldc = g->N, .accumulate = acc};
  int64_t full = next / g->nr, tail = next % g->nr;
  int64_t b_step = g->pack_b ? kc * g->nr : g->nr; /* from one column tile of B to the next */
  if (full > 0) {
    LLVMValueRef mk = be_mm_microkernel(c, &g->isa, &s);
    be_loop lj;
    LLVMValueRef j = loop_or_one(c, &lj, full, "jr");
    LLVMValueRef args[3] = {a_tile, be_mm_gep(c, b_blk, scaled(c, j, b_step)), be_mm_gep(c, c_row, scaled(c, j, g->nr))};
    call_ptrs(c, mk, args, 3);
    loop_or_one_end(c, &lj, full);
  }
  if (tail > 0) {
    s.nvec = (int)ceil_div(tail, g->isa.vl);
    s.last_lanes = (int)(tail - (int64_t)(s.nvec - 1) * g->isa.vl);
    LLVMValueRef mk = be_mm_microkernel(c, &g->isa, &s);
    LLVMValueRef args[3] = {a_tile, be_mm_gep_const(c, b_blk, full * b_step), be_mm_gep_const(c, c_row, full * g->nr)};
    call_ptrs(c, mk, args, 3);
  }
}

/* One k block of a task: pack B's panel (if packed), then every tile of the task's C. */
static void emit_block(mm_geom *g, int64_t mext, int64_t next, int64_t kc, bool acc, LLVMValueRef a_blk,
                       LLVMValueRef b_blk, LLVMValueRef cp, LLVMValueRef bp, LLVMValueRef ap) {
  be_ctx *c = g->c;
  if (g->pack_b) {
    be_pack_spec ps = {.kc = kc, .cols = next, .nr = g->nr, .b_rs = g->b_rs, .b_cs = g->b_cs};
    LLVMValueRef args[2] = {b_blk, bp};
    call_ptrs(c, be_mm_pack_b(c, &g->isa, &ps), args, 2);
    b_blk = bp;
  }
  int64_t full = mext / g->mr, tail = mext % g->mr;
  if (full > 0) {
    be_loop li;
    LLVMValueRef i = loop_or_one(c, &li, full, "ir");
    emit_tile_row(g, g->mr, kc, acc, next, be_mm_gep(c, a_blk, scaled(c, i, g->mr * g->a_rs)), b_blk,
                  be_mm_gep(c, cp, scaled(c, i, g->mr * g->N)), ap);
    loop_or_one_end(c, &li, full);
  }
  if (tail > 0)
    emit_tile_row(g, (int)tail, kc, acc, next, be_mm_gep_const(c, a_blk, full * g->mr * g->a_rs), b_blk,
                  be_mm_gep_const(c, cp, full * g->mr * g->N), ap);
}

static LLVMValueRef declare(be_ctx *c, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, int n) {
  LLVMValueRef fn = LLVMGetNamedFunction(c->mod, name);
  if (!fn) {
    fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(ret, params, (unsigned)n, 0));
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(c->ctx, nounwind, 0));
  }
  return fn;
}

/* `void part(ptr a, ptr b, ptr c)`: C[mext x next] of one task, pointers at its corner. */
static LLVMValueRef emit_part(mm_geom *g, int64_t mext, int64_t next) {
  be_ctx *c = g->c;
  char name[256];
  snprintf(name, sizeof name, "%s.part%lldx%lld", g->name, (long long)mext, (long long)next);
  LLVMValueRef fn = LLVMGetNamedFunction(c->mod, name);
  if (fn) return fn;
  fn = be_begin_function(c, name, 3, true);
  LLVMValueRef a = LLVMGetParam(fn, 0), b = LLVMGetParam(fn, 1), cp = LLVMGetParam(fn, 2), bp = NULL,
               ap = NULL;
  int64_t b_floats = g->pack_b ? g->kc * ceil_div(next, g->nr) * g->nr : 0;
  int64_t a_floats = g->pack_a ? g->kc * g->mr : 0;
  if (b_floats + a_floats > 0) {
    /* Packed panels live in the thread's scratch (see rt_thread_scratch), B's first. */
    LLVMValueRef bytes = be_i64(c, (ceil_div(b_floats, 16) * 16 + a_floats) * 4);
    LLVMTypeRef i64 = c->i64;
    LLVMValueRef scratch = declare(c, "rt_thread_scratch", c->ptr, &i64, 1);
    LLVMValueRef mem = LLVMBuildCall2(c->b, LLVMGlobalGetValueType(scratch), scratch, &bytes, 1, "scratch");
    bp = mem;
    ap = be_mm_gep_const(c, mem, ceil_div(b_floats, 16) * 16);
  }
  emit_block(g, mext, next, g->kc, false, a, b, cp, bp, ap);
  if (g->nkfull > 1) {
    be_loop lk;
    LLVMValueRef kb = LLVMBuildAdd(c->b, be_loop_begin(c, &lk, g->nkfull - 1, "kb"), be_i64(c, 1), "");
    LLVMValueRef pc = scaled(c, kb, g->kc);
    emit_block(g, mext, next, g->kc, true, be_mm_gep(c, a, scaled(c, pc, g->a_cs)),
               be_mm_gep(c, b, scaled(c, pc, g->b_rs)), cp, bp, ap);
    be_loop_end(c, &lk);
  }
  if (g->kctail > 0) {
    int64_t pc = g->nkfull * g->kc;
    emit_block(g, mext, next, g->kctail, true, be_mm_gep_const(c, a, pc * g->a_cs),
               be_mm_gep_const(c, b, pc * g->b_rs), cp, bp, ap);
  }
  LLVMBuildRetVoid(c->b);
  return fn;
}

/* `void task(ptr ctx, i64 i)`: ctx holds a, b, c; task i is block (i / tn, i % tn). */
static LLVMValueRef emit_task(mm_geom *g, LLVMValueRef parts[2][2]) {
  be_ctx *c = g->c;
  char name[256];
  snprintf(name, sizeof name, "%s.task", g->name);
  LLVMTypeRef params[2] = {c->ptr, c->i64};
  LLVMValueRef fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(c->void_t, params, 2, 0));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  be_set_function_attrs(c, fn);
  LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
  LLVMValueRef ctx = LLVMGetParam(fn, 0), i = LLVMGetParam(fn, 1), ptr[3];
  for (int q = 0; q < 3; q++) {
    LLVMValueRef idx = be_i64(c, q);
    ptr[q] = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildInBoundsGEP2(c->b, c->ptr, ctx, &idx, 1, ""), "");
  }
  LLVMValueRef ti = LLVMBuildUDiv(c->b, i, be_i64(c, g->tn), "ti");
  LLVMValueRef tj = LLVMBuildURem(c->b, i, be_i64(c, g->tn), "tj");
  LLVMValueRef a = be_mm_gep(c, ptr[0], scaled(c, ti, g->cm * g->a_rs));
  LLVMValueRef b = be_mm_gep(c, ptr[1], scaled(c, tj, g->cn * g->b_cs));
  LLVMValueRef cp = be_mm_gep(c, ptr[2], LLVMBuildAdd(c->b, scaled(c, ti, g->cm * g->N), scaled(c, tj, g->cn), ""));
  LLVMValueRef last_m = LLVMBuildICmp(c->b, LLVMIntEQ, ti, be_i64(c, g->tm - 1), "");
  LLVMValueRef last_n = LLVMBuildICmp(c->b, LLVMIntEQ, tj, be_i64(c, g->tn - 1), "");
  LLVMValueRef args[3] = {a, b, cp};
  /* Four cases at most: every block but the last row and column of the grid is the same. */
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(c->ctx, fn, "done");
  for (int lm = 0; lm < 2; lm++) {
    LLVMBasicBlockRef next_m = LLVMAppendBasicBlockInContext(c->ctx, fn, "");
    LLVMBasicBlockRef here_m = LLVMAppendBasicBlockInContext(c->ctx, fn, "");
    LLVMBuildCondBr(c->b, lm == 0 ? LLVMBuildNot(c->b, last_m, "") : last_m, here_m, next_m);
    LLVMPositionBuilderAtEnd(c->b, here_m);
    for (int ln = 0; ln < 2; ln++) {
      LLVMBasicBlockRef here_n = LLVMAppendBasicBlockInContext(c->ctx, fn, "");
      LLVMBasicBlockRef next_n = LLVMAppendBasicBlockInContext(c->ctx, fn, "");
      LLVMBuildCondBr(c->b, ln == 0 ? LLVMBuildNot(c->b, last_n, "") : last_n, here_n, next_n);
      LLVMPositionBuilderAtEnd(c->b, here_n);
      if (parts[lm][ln]) call_ptrs(c, parts[lm][ln], args, 3);
      LLVMBuildBr(c->b, done);
      LLVMPositionBuilderAtEnd(c->b, next_n);
    }
    LLVMBuildBr(c->b, done);
    LLVMPositionBuilderAtEnd(c->b, next_m);
  }
  LLVMBuildBr(c->b, done);
  LLVMPositionBuilderAtEnd(c->b, done);
  LLVMBuildRetVoid(c->b);
  return fn;
}

/* The blocked kernel, or false (nothing emitted) when the plain loop nest must do. */
static bool emit_blocked(be_kernel *k) {
  be_ctx *c = k->c;
  const ir_node *mm = k->plan->groups[k->group].sink;
  const ir_type *ct = &mm->type;
  if (ct->rank != 2 || ct->dtype != IR_F32) return false;
  mm_geom g = {.c = c, .isa = be_mm_isa_of(c->features), .M = ct->dims[0], .N = ct->dims[1]};
  LLVMValueRef a, b;
  if (!operand(k, mm->args[0], &a, &g.a_rs, &g.a_cs) || !operand(k, mm->args[1], &b, &g.b_rs, &g.b_cs))
    return false;
  g.K = mm->args[0]->type.dims[1];
  /* Matrix-vector products and tiny products: the plain loops are as good. */
  if (g.N < 2 || g.M * g.N * g.K < 4096) return false;
  LLVMBasicBlockRef body = LLVMGetInsertBlock(c->b);
  LLVMValueRef kfn = LLVMGetBasicBlockParent(body);
  size_t len;
  g.name = LLVMGetValueName2(kfn, &len);
  plan_geometry(&g);

  int64_t last_m = g.M - (g.tm - 1) * g.cm, last_n = g.N - (g.tn - 1) * g.cn;
  LLVMValueRef parts[2][2] = {{NULL, NULL}, {NULL, NULL}};
  for (int lm = 0; lm < 2; lm++)
    for (int ln = 0; ln < 2; ln++) {
      if ((lm == 0 && g.tm == 1) || (ln == 0 && g.tn == 1)) continue;
      parts[lm][ln] = emit_part(&g, lm ? last_m : g.cm, ln ? last_n : g.cn);
    }
  LLVMValueRef cbuf = k->buf[mm->id];
  if (g.tm * g.tn == 1) {
    LLVMPositionBuilderAtEnd(c->b, body);
    LLVMValueRef args[3] = {a, b, cbuf};
    call_ptrs(c, parts[1][1], args, 3);
    return true;
  }
  LLVMValueRef task = emit_task(&g, parts);
  LLVMPositionBuilderAtEnd(c->b, body);
  LLVMValueRef ctx = be_entry_alloca(c, LLVMArrayType(c->ptr, 3), "mm.ctx");
  LLVMValueRef vals[3] = {a, b, cbuf};
  for (int q = 0; q < 3; q++) {
    LLVMValueRef idx = be_i64(c, q);
    LLVMBuildStore(c->b, vals[q], LLVMBuildInBoundsGEP2(c->b, c->ptr, ctx, &idx, 1, ""));
  }
  LLVMTypeRef params[3] = {c->i64, c->ptr, c->ptr};
  LLVMValueRef pf = declare(c, "rt_parallel_for", c->void_t, params, 3);
  LLVMValueRef args[3] = {be_i64(c, g.tm * g.tn), task, ctx};
  LLVMBuildCall2(c->b, LLVMGlobalGetValueType(pf), pf, args, 3, "");
  return true;
}

void be_emit_matmul(be_kernel *k) {
  if (ir_type_numel(&k->plan->groups[k->group].sink->type) == 0) return;
  if (!emit_blocked(k)) emit_naive(k);
}

/* The matmul micro-kernels, emitted as explicit vector operations.
 *
 * The micro-kernel keeps a rows x (nvec * vl) tile of C in registers for the whole kc loop:
 * each step loads nvec vectors of B's row p, broadcasts A(i, p) for every row i and does
 * rows * nvec fused multiply-adds (llvm.fma.vNf32). A loop vectoriser does not find this
 * form by itself; written out, LLVM keeps every accumulator in a register and folds the
 * broadcast into the FMA's memory operand. Every C element is one chain of FMAs in the order
 * p = 0, 1, ..., K-1, whichever tile, task or thread computes it: results do not depend on
 * the blocking or the thread count.
 *
 * Functions are named after their spec and looked up by name, so matmuls of the same shape
 * (the forward matmul in train_step, forward and gradients) share them. */
#include <stdio.h>
#include <string.h>

#include "be_matmul.h"

be_mm_isa be_mm_isa_of(const char *features) {
  be_mm_isa isa = {.vl = 4, .nregs = 16, .fma = false};
  if (!features) return isa;
  if (strstr(features, "+avx512f")) {
    isa.vl = 16;
    isa.nregs = 32;
  } else if (strstr(features, "+avx")) {
    isa.vl = 8;
  }
  isa.fma = strstr(features, "+fma") != NULL || strstr(features, "+avx512f") != NULL;
  return isa;
}

LLVMValueRef be_mm_gep(be_ctx *c, LLVMValueRef base, LLVMValueRef index) {
  return LLVMBuildInBoundsGEP2(c->b, c->f32, base, &index, 1, "");
}

LLVMValueRef be_mm_gep_const(be_ctx *c, LLVMValueRef base, int64_t index) {
  if (index == 0) return base;
  return be_mm_gep(c, base, be_i64(c, index));
}

LLVMValueRef be_mm_scaled(be_ctx *c, LLVMValueRef i, int64_t by) {
  return LLVMBuildMul(c->b, i, be_i64(c, by), "");
}

LLVMValueRef be_mm_add_i64(be_ctx *c, LLVMValueRef i, int64_t by) {
  return by == 0 ? i : LLVMBuildAdd(c->b, i, be_i64(c, by), "");
}

void be_mm_call(be_ctx *c, LLVMValueRef fn, LLVMValueRef *args, int n) {
  LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fn), fn, args, (unsigned)n, "");
}

/* A read prefetch into every cache level (llvm.prefetch: read, locality 3, data). */
static void prefetch(be_ctx *c, LLVMValueRef base, int64_t index, int locality) {
  LLVMValueRef idx = be_i64(c, index);
  LLVMValueRef addr = LLVMBuildGEP2(c->b, c->f32, base, &idx, 1, ""); /* not inbounds: it may point past the buffer */
  LLVMValueRef args[4] = {addr, LLVMConstInt(c->i32, 0, 0), LLVMConstInt(c->i32, (unsigned long long)locality, 0),
                          LLVMConstInt(c->i32, 1, 0)};
  be_intrinsic(c, "llvm.prefetch", c->ptr, args, 4);
}

void be_mm_prefetch(be_ctx *c, LLVMValueRef base, int64_t index) { prefetch(c, base, index, 3); }
void be_mm_prefetch_l2(be_ctx *c, LLVMValueRef base, int64_t index) { prefetch(c, base, index, 2); }

bool be_mm_never(LLVMValueRef cond) { return LLVMIsAConstantInt(cond) && LLVMConstIntGetZExtValue(cond) == 0; }

LLVMBasicBlockRef be_mm_when(be_ctx *c, LLVMValueRef cond) {
  if (LLVMIsAConstantInt(cond)) return NULL;
  LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
  LLVMBasicBlockRef run = LLVMAppendBasicBlockInContext(c->ctx, fn, "when");
  LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(c->ctx, fn, "");
  LLVMBuildCondBr(c->b, cond, run, after);
  LLVMPositionBuilderAtEnd(c->b, run);
  return after;
}

void be_mm_when_end(be_ctx *c, LLVMBasicBlockRef after) {
  if (!after) return;
  LLVMBuildBr(c->b, after);
  LLVMPositionBuilderAtEnd(c->b, after);
}

/* ---- vector helpers -------------------------------------------------------------------- */

LLVMTypeRef be_mm_vec_t(be_ctx *c, const be_mm_isa *isa) { return LLVMVectorType(c->f32, (unsigned)isa->vl); }

/* <vl x i1> with the first `lanes` lanes set. */
static LLVMValueRef lane_mask(be_ctx *c, const be_mm_isa *isa, int lanes) {
  LLVMValueRef bits[64];
  for (int i = 0; i < isa->vl; i++) bits[i] = LLVMConstInt(c->i1, i < lanes, 0);
  return LLVMConstVector(bits, (unsigned)isa->vl);
}

static LLVMValueRef call_overloaded(be_ctx *c, const char *name, LLVMTypeRef *over, int nover,
                                    LLVMValueRef *args, int nargs) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  IR_ASSERT(id != 0);
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, over, (size_t)nover);
  LLVMTypeRef fty = LLVMIntrinsicGetType(c->ctx, id, over, (size_t)nover);
  return LLVMBuildCall2(c->b, fty, fn, args, (unsigned)nargs, "");
}

/* A vector of `lanes` valid floats at p (unaligned); the rest zero and never touched. */
LLVMValueRef be_mm_load_vec(be_ctx *c, const be_mm_isa *isa, LLVMValueRef p, int lanes) {
  LLVMTypeRef vt = be_mm_vec_t(c, isa);
  if (lanes >= isa->vl) {
    LLVMValueRef v = LLVMBuildLoad2(c->b, vt, p, "");
    LLVMSetAlignment(v, 4);
    return v;
  }
  LLVMTypeRef over[2] = {vt, c->ptr};
  LLVMValueRef args[4] = {p, LLVMConstInt(c->i32, 4, 0), lane_mask(c, isa, lanes), LLVMConstNull(vt)};
  return call_overloaded(c, "llvm.masked.load", over, 2, args, 4);
}

void be_mm_store_vec(be_ctx *c, const be_mm_isa *isa, LLVMValueRef v, LLVMValueRef p, int lanes) {
  if (lanes >= isa->vl) {
    LLVMValueRef s = LLVMBuildStore(c->b, v, p);
    LLVMSetAlignment(s, 4);
    return;
  }
  LLVMTypeRef over[2] = {be_mm_vec_t(c, isa), c->ptr};
  LLVMValueRef args[4] = {v, p, LLVMConstInt(c->i32, 4, 0), lane_mask(c, isa, lanes)};
  call_overloaded(c, "llvm.masked.store", over, 2, args, 4);
}

static LLVMValueRef splat(be_ctx *c, const be_mm_isa *isa, LLVMValueRef x) {
  LLVMTypeRef vt = be_mm_vec_t(c, isa);
  LLVMValueRef v = LLVMBuildInsertElement(c->b, LLVMGetUndef(vt), x, LLVMConstInt(c->i32, 0, 0), "");
  LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(c->i32, (unsigned)isa->vl));
  return LLVMBuildShuffleVector(c->b, v, LLVMGetUndef(vt), zeros, "");
}

static LLVMValueRef fma_vec(be_ctx *c, const be_mm_isa *isa, LLVMValueRef a, LLVMValueRef b,
                            LLVMValueRef acc) {
  if (isa->fma) {
    LLVMValueRef args[3] = {a, b, acc};
    return be_intrinsic(c, "llvm.fma", be_mm_vec_t(c, isa), args, 3);
  }
  /* No FMA unit: multiply, then add, never contracted, so the host's results are its own. */
  return LLVMBuildFAdd(c->b, acc, LLVMBuildFMul(c->b, a, b, ""), "");
}

/* ---- the micro-kernel ------------------------------------------------------------------ */

enum { MAX_ROWS = 32, MAX_VEC = 4 };

/* The k loop is unrolled by a divisor of kc, so address arithmetic is shared. Two steps
 * already hide the loop's overhead behind 2 x rows x nvec FMAs; four ran no faster and cost
 * LLVM twice the instruction selection. */
static int k_unroll(int64_t kc) { return kc % 2 == 0 ? 2 : 1; }

static int lanes_of(const be_mm_isa *isa, const be_mk_spec *s, int v) {
  return v == s->nvec - 1 ? s->last_lanes : isa->vl;
}

LLVMValueRef be_mm_microkernel(be_ctx *c, const be_mm_isa *isa, const be_mk_spec *s) {
  IR_ASSERT(s->rows >= 1 && s->rows <= MAX_ROWS && s->nvec >= 1 && s->nvec <= MAX_VEC && s->kc >= 1);
  char name[200];
  snprintf(name, sizeof name, "dlc.mk.v%d.r%d.n%d.l%d.k%lld.a%lld_%lld.b%lld%s.c%lld", isa->vl, s->rows,
           s->nvec, s->last_lanes, (long long)s->kc, (long long)s->a_rs, (long long)s->a_cs, (long long)s->b_rs,
           s->b_padded ? "p" : "", (long long)s->ldc);
  LLVMValueRef fn = be_vector_fn_find(c, name);
  if (fn) return fn;
  be_emit_point at = be_vector_fn_begin(c);
  fn = be_begin_function_args(c, name, 3, 3, 1, true);
  LLVMValueRef a = LLVMGetParam(fn, 0), b = LLVMGetParam(fn, 1), cp = LLVMGetParam(fn, 2);
  LLVMTypeRef vt = be_mm_vec_t(c, isa);
  int R = s->rows, V = s->nvec;

  /* The tile starts from C (a later block of K) or from zero, as the flag says. */
  LLVMBasicBlockRef entry = LLVMGetInsertBlock(c->b);
  LLVMBasicBlockRef load_c = LLVMAppendBasicBlockInContext(c->ctx, fn, "load_c");
  LLVMBasicBlockRef start = LLVMAppendBasicBlockInContext(c->ctx, fn, "start");
  LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntNE, LLVMGetParam(fn, 3), be_i64(c, 0), ""), load_c, start);
  LLVMPositionBuilderAtEnd(c->b, load_c);
  LLVMValueRef loaded[MAX_ROWS][MAX_VEC];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < V; v++)
      loaded[r][v] = be_mm_load_vec(c, isa, be_mm_gep_const(c, cp, r * s->ldc + v * isa->vl), lanes_of(isa, s, v));
  LLVMBuildBr(c->b, start);
  LLVMPositionBuilderAtEnd(c->b, start);
  LLVMValueRef acc[MAX_ROWS][MAX_VEC];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < V; v++) {
      acc[r][v] = LLVMBuildPhi(c->b, vt, "c0");
      LLVMValueRef vals[2] = {LLVMConstNull(vt), loaded[r][v]};
      LLVMBasicBlockRef blocks[2] = {entry, load_c};
      LLVMAddIncoming(acc[r][v], vals, blocks, 2);
    }

  int u = k_unroll(s->kc);
  be_loop lk;
  LLVMValueRef ki = be_loop_begin(c, &lk, s->kc / u, "k");
  LLVMValueRef phi[MAX_ROWS][MAX_VEC];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < V; v++) phi[r][v] = LLVMBuildPhi(c->b, vt, "acc");
  LLVMValueRef cur[MAX_ROWS][MAX_VEC];
  memcpy(cur, phi, sizeof cur);
  LLVMValueRef p0 = LLVMBuildMul(c->b, ki, be_i64(c, u), "");
  LLVMValueRef a_row = be_mm_gep(c, a, LLVMBuildMul(c->b, p0, be_i64(c, s->a_cs), ""));
  LLVMValueRef b_row = be_mm_gep(c, b, LLVMBuildMul(c->b, p0, be_i64(c, s->b_rs), ""));
  for (int q = 0; q < u; q++) {
    LLVMValueRef bv[MAX_VEC];
    for (int v = 0; v < V; v++) {
      LLVMValueRef p = be_mm_gep_const(c, b_row, q * s->b_rs + v * isa->vl);
      bv[v] = be_mm_load_vec(c, isa, p, s->b_padded ? isa->vl : lanes_of(isa, s, v));
    }
    for (int r = 0; r < R; r++) {
      LLVMValueRef x = LLVMBuildLoad2(c->b, c->f32, be_mm_gep_const(c, a_row, r * s->a_rs + q * s->a_cs), "");
      LLVMValueRef xs = splat(c, isa, x);
      for (int v = 0; v < V; v++) cur[r][v] = fma_vec(c, isa, xs, bv[v], cur[r][v]);
    }
  }
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
  be_loop_end(c, &lk);
  be_loop_no_unroll(c, &lk); /* already unrolled by u: more copies only cost compile time */
  for (int r = 0; r < R; r++)
    for (int v = 0; v < V; v++) {
      LLVMValueRef vals[2] = {acc[r][v], cur[r][v]};
      LLVMBasicBlockRef blocks[2] = {lk.preheader, latch};
      LLVMAddIncoming(phi[r][v], vals, blocks, 2);
    }
  for (int r = 0; r < R; r++)
    for (int v = 0; v < V; v++)
      be_mm_store_vec(c, isa, cur[r][v], be_mm_gep_const(c, cp, r * s->ldc + v * isa->vl), lanes_of(isa, s, v));
  LLVMBuildRetVoid(c->b);
  return be_vector_fn_end(c, at, fn);
}

/* ---- the narrow micro-kernel ----------------------------------------------------------- */

enum { MAX_NCOLS = 16 };

/* C's rows from the narrow kernel's Cᵀ tile (acc[v][j], lane l = row v*vl + l): the tile goes
 * to the stack as it is, then a loop over C's rows gathers each row's `cols` floats (stride
 * one column of the tile) and stores them masked. A shuffle network built per row instead
 * costs LLVM's instruction selection far more than the kernel's whole k loop, and this kernel
 * runs once per 32 rows of a weight gradient: its store is never what the step waits on. */
static void store_transposed(be_ctx *c, const be_mm_isa *isa, const be_mk_narrow_spec *s,
                             LLVMValueRef acc[][MAX_NCOLS], LLVMValueRef cp) {
  int64_t col_len = (int64_t)s->nvec * isa->vl, rows = col_len - isa->vl + s->last_lanes;
  LLVMValueRef tile = be_entry_alloca(c, LLVMArrayType2(c->f32, (uint64_t)(col_len * s->cols)), "tile");
  for (int j = 0; j < s->cols; j++)
    for (int v = 0; v < s->nvec; v++)
      be_mm_store_vec(c, isa, acc[v][j], be_mm_gep_const(c, tile, j * col_len + v * isa->vl), isa->vl);
  LLVMValueRef offsets[64];
  for (int j = 0; j < isa->vl; j++) offsets[j] = be_i64(c, j < s->cols ? j * col_len : 0);
  LLVMValueRef offset_vec = LLVMConstVector(offsets, (unsigned)isa->vl);
  be_loop lr;
  LLVMValueRef r = be_loop_begin(c, &lr, rows, "row");
  LLVMValueRef ptrs = LLVMBuildGEP2(c->b, c->f32, be_mm_gep(c, tile, r), &offset_vec, 1, "");
  LLVMTypeRef over[2] = {be_mm_vec_t(c, isa), LLVMTypeOf(ptrs)};
  LLVMValueRef args[4] = {ptrs, LLVMConstInt(c->i32, 4, 0), lane_mask(c, isa, s->cols),
                          LLVMConstNull(be_mm_vec_t(c, isa))};
  LLVMValueRef row = call_overloaded(c, "llvm.masked.gather", over, 2, args, 4);
  be_mm_store_vec(c, isa, row, be_mm_gep(c, cp, LLVMBuildMul(c->b, r, be_i64(c, s->ldc), "")), s->cols);
  be_loop_end(c, &lr);
  be_loop_no_unroll(c, &lr);
}

/* The same chain of FMAs per element as be_mm_microkernel (p = 0 .. kc-1, a·b + acc), so
 * either kernel gives the same bits; only the lanes are laid along the other axis. */
LLVMValueRef be_mm_microkernel_narrow(be_ctx *c, const be_mm_isa *isa, const be_mk_narrow_spec *s) {
  IR_ASSERT(s->nvec >= 1 && s->nvec <= MAX_VEC && s->cols >= 1 && s->cols < MAX_NCOLS && s->kc >= 1);
  char name[200];
  snprintf(name, sizeof name, "dlc.mkn.v%d.n%d.l%d.c%d.k%lld.a%lld.b%lld_%lld.c%lld", isa->vl, s->nvec,
           s->last_lanes, s->cols, (long long)s->kc, (long long)s->a_cs, (long long)s->b_rs, (long long)s->b_cs,
           (long long)s->ldc);
  LLVMValueRef fn = be_vector_fn_find(c, name);
  if (fn) return fn;
  be_emit_point at = be_vector_fn_begin(c);
  fn = be_begin_function(c, name, 3, true);
  LLVMValueRef a = LLVMGetParam(fn, 0), b = LLVMGetParam(fn, 1), cp = LLVMGetParam(fn, 2);
  LLVMTypeRef vt = be_mm_vec_t(c, isa);
  int V = s->nvec, J = s->cols;
  int lanes[MAX_VEC];
  for (int v = 0; v < V; v++) lanes[v] = v == V - 1 ? s->last_lanes : isa->vl;

  int u = k_unroll(s->kc);
  be_loop lk;
  LLVMValueRef ki = be_loop_begin(c, &lk, s->kc / u, "k");
  LLVMValueRef phi[MAX_VEC][MAX_NCOLS], cur[MAX_VEC][MAX_NCOLS];
  for (int v = 0; v < V; v++)
    for (int j = 0; j < J; j++) cur[v][j] = phi[v][j] = LLVMBuildPhi(c->b, vt, "acc");
  LLVMValueRef p0 = LLVMBuildMul(c->b, ki, be_i64(c, u), "");
  LLVMValueRef a_col = be_mm_gep(c, a, LLVMBuildMul(c->b, p0, be_i64(c, s->a_cs), ""));
  LLVMValueRef b_row = be_mm_gep(c, b, LLVMBuildMul(c->b, p0, be_i64(c, s->b_rs), ""));
  for (int q = 0; q < u; q++) {
    LLVMValueRef av[MAX_VEC];
    /* A's rows (a weight gradient's xᵀ: h's rows) come one a k step, from L3. */
    for (int v = 0; v < V; v++) be_mm_prefetch(c, a_col, (q + BE_MM_PREFETCH_ROWS) * s->a_cs + v * isa->vl);
    for (int v = 0; v < V; v++) av[v] = be_mm_load_vec(c, isa, be_mm_gep_const(c, a_col, q * s->a_cs + v * isa->vl), lanes[v]);
    for (int j = 0; j < J; j++) {
      LLVMValueRef y = LLVMBuildLoad2(c->b, c->f32, be_mm_gep_const(c, b_row, q * s->b_rs + j * s->b_cs), "");
      LLVMValueRef ys = splat(c, isa, y);
      for (int v = 0; v < V; v++) cur[v][j] = fma_vec(c, isa, av[v], ys, cur[v][j]);
    }
  }
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
  be_loop_end(c, &lk);
  be_loop_no_unroll(c, &lk); /* already unrolled by u: more copies only cost compile time */
  for (int v = 0; v < V; v++)
    for (int j = 0; j < J; j++) {
      LLVMValueRef vals[2] = {LLVMConstNull(vt), cur[v][j]};
      LLVMBasicBlockRef blocks[2] = {lk.preheader, latch};
      LLVMAddIncoming(phi[v][j], vals, blocks, 2);
    }
  store_transposed(c, isa, s, cur, cp);
  LLVMBuildRetVoid(c->b);
  return be_vector_fn_end(c, at, fn);
}

/* The packing functions of the matmul: B into tiles of nr columns, A's slivers into rows of
 * mr floats. Emitted as explicit vector operations, like the micro-kernels they feed
 * (be_matmul_kernel.c); a function per distinct spec, looked up by name. */
#include <stdio.h>

#include "be_matmul.h"

/* ---- packing B ------------------------------------------------------------------------- */

/* Transposes the vl x vl block in x (x[i] lane l = element (i, l)) in place, in log2(vl)
 * steps: the step for bit b swaps the b x b blocks off the diagonal of every 2b x 2b block,
 * so that bit b of an element's row and column index trade places. Each step is vl two-
 * input shuffles; with AVX-512 each is one instruction (unpcklpd, vpermt2ps, vshuff64x2). */
static void transpose_block(be_ctx *c, const be_mm_isa *isa, LLVMValueRef *x) {
  int vl = isa->vl;
  for (int b = 1; b < vl; b *= 2) {
    LLVMValueRef lo[64], hi[64];
    for (int l = 0; l < vl; l++) {
      bool up = l & b;
      lo[l] = LLVMConstInt(c->i32, (unsigned long long)(up ? vl + l - b : l), 0);
      hi[l] = LLVMConstInt(c->i32, (unsigned long long)(up ? vl + l : l + b), 0);
    }
    LLVMValueRef mlo = LLVMConstVector(lo, (unsigned)vl), mhi = LLVMConstVector(hi, (unsigned)vl);
    for (int r = 0; r < vl; r++) {
      if (r & b) continue;
      LLVMValueRef u = x[r], v = x[r + b];
      x[r] = LLVMBuildShuffleVector(c->b, u, v, mlo, "");
      x[r + b] = LLVMBuildShuffleVector(c->b, u, v, mhi, "");
    }
  }
}

/* One tile of the transposed packing, rows p0 .. p0+prows-1 (prows <= vl), `valid` columns of
 * it present in B (the rest are the tail tile's zero padding): per group of vl columns, vl
 * column pieces loaded (masked to prows), transposed, stored as prows rows of the tile. */
static void pack_b_block(be_ctx *c, const be_mm_isa *isa, const be_pack_spec *s, LLVMValueRef from,
                         LLVMValueRef to, int64_t valid, int prows) {
  int vl = isa->vl;
  for (int64_t g = 0; g < s->nr / vl; g++) {
    LLVMValueRef x[64];
    for (int l = 0; l < vl; l++) {
      int64_t j = g * vl + l;
      x[l] = j < valid ? be_mm_load_vec(c, isa, be_mm_gep_const(c, from, j * s->b_cs), prows)
                       : LLVMConstNull(be_mm_vec_t(c, isa));
    }
    transpose_block(c, isa, x);
    for (int r = 0; r < prows; r++) be_mm_store_vec(c, isa, x[r], be_mm_gep_const(c, to, r * s->nr + g * vl), vl);
  }
}

/* Columns of B contiguous (B read transposed, b_rs = 1): vl x vl blocks, read vl floats down
 * each of vl columns, transposed in registers, written as vl rows of the tile; the rows past
 * the last whole block of vl are a masked block. Zero columns fill the tail tile. */
static void pack_b_transposed(be_ctx *c, const be_mm_isa *isa, const be_pack_spec *s, LLVMValueRef src,
                              LLVMValueRef dst) {
  int64_t nr = s->nr, full = s->cols / nr, tail = s->cols % nr, tile = s->kc * nr;
  int64_t pblocks = s->kc / isa->vl, prem = s->kc % isa->vl;
  for (int part = 0; part < 2; part++) {
    int64_t ntiles = part == 0 ? full : tail > 0, valid = part == 0 ? nr : tail;
    if (ntiles == 0) continue;
    be_loop lt, lp;
    LLVMValueRef t = ntiles == 1 ? be_i64(c, part == 0 ? 0 : full) : be_loop_begin(c, &lt, ntiles, "t");
    LLVMValueRef from_t = be_mm_gep(c, src, LLVMBuildMul(c->b, t, be_i64(c, nr * s->b_cs), ""));
    LLVMValueRef to_t = be_mm_gep(c, dst, LLVMBuildMul(c->b, t, be_i64(c, tile), ""));
    if (pblocks > 0) {
      LLVMValueRef pb = pblocks == 1 ? be_i64(c, 0) : be_loop_begin(c, &lp, pblocks, "pb");
      LLVMValueRef p0 = LLVMBuildMul(c->b, pb, be_i64(c, isa->vl), "");
      pack_b_block(c, isa, s, be_mm_gep(c, from_t, p0),
                   be_mm_gep(c, to_t, LLVMBuildMul(c->b, p0, be_i64(c, nr), "")), valid, isa->vl);
      if (pblocks != 1) {
        be_loop_end(c, &lp);
        be_loop_no_unroll(c, &lp);
      }
    }
    if (prem > 0)
      pack_b_block(c, isa, s, be_mm_gep_const(c, from_t, pblocks * isa->vl),
                   be_mm_gep_const(c, to_t, pblocks * isa->vl * nr), valid, (int)prem);
    /* A tile's code is vl-squared shuffles: copies of it cost compile time, not run time. */
    if (ntiles > 1) {
      be_loop_end(c, &lt);
      be_loop_no_unroll(c, &lt);
    }
  }
}

/* Any other strides (a strided view of B): walk each column along p and scatter into the
 * tile's rows; then zero the tail tile's padding columns. */
static void pack_b_strided(be_ctx *c, const be_pack_spec *s, LLVMValueRef src, LLVMValueRef dst) {
  int64_t nr = s->nr, full = s->cols / nr, tail = s->cols % nr, tile = s->kc * nr;
  be_loop lj, lp;
  if (s->cols > 0) {
    LLVMValueRef j = s->cols == 1 ? be_i64(c, 0) : be_loop_begin(c, &lj, s->cols, "j");
    LLVMValueRef t = LLVMBuildUDiv(c->b, j, be_i64(c, nr), "");
    LLVMValueRef col = LLVMBuildURem(c->b, j, be_i64(c, nr), "");
    LLVMValueRef to0 = be_mm_gep(c, dst, LLVMBuildAdd(c->b, LLVMBuildMul(c->b, t, be_i64(c, tile), ""), col, ""));
    LLVMValueRef from0 = be_mm_gep(c, src, LLVMBuildMul(c->b, j, be_i64(c, s->b_cs), ""));
    LLVMValueRef p = be_loop_begin(c, &lp, s->kc, "p");
    LLVMValueRef x = LLVMBuildLoad2(c->b, c->f32, be_mm_gep(c, from0, LLVMBuildMul(c->b, p, be_i64(c, s->b_rs), "")), "");
    LLVMBuildStore(c->b, x, be_mm_gep(c, to0, LLVMBuildMul(c->b, p, be_i64(c, nr), "")));
    be_loop_end(c, &lp);
    if (s->cols != 1) be_loop_end(c, &lj);
  }
  /* Zero the padding columns of the tail tile. */
  if (tail > 0) {
    be_loop lz, lq;
    LLVMValueRef p = be_loop_begin(c, &lz, s->kc, "pz");
    LLVMValueRef row = be_mm_gep(c, dst, LLVMBuildAdd(c->b, be_i64(c, full * tile), LLVMBuildMul(c->b, p, be_i64(c, nr), ""), ""));
    LLVMValueRef q = nr - tail == 1 ? be_i64(c, 0) : be_loop_begin(c, &lq, nr - tail, "q");
    LLVMBuildStore(c->b, LLVMConstReal(c->f32, 0), be_mm_gep(c, row, LLVMBuildAdd(c->b, q, be_i64(c, tail), "")));
    if (nr - tail != 1) be_loop_end(c, &lq);
    be_loop_end(c, &lz);
  }
}

LLVMValueRef be_mm_pack_b(be_ctx *c, const be_mm_isa *isa, const be_pack_spec *s) {
  char name[160];
  snprintf(name, sizeof name, "dlc.packb.v%d.k%lld.n%lld.r%lld.b%lld_%lld", isa->vl, (long long)s->kc,
           (long long)s->cols, (long long)s->nr, (long long)s->b_rs, (long long)s->b_cs);
  LLVMValueRef fn = be_vector_fn_find(c, name);
  if (fn) return fn;
  be_emit_point at = be_vector_fn_begin(c);
  fn = be_begin_function(c, name, 2, true);
  LLVMValueRef src = LLVMGetParam(fn, 0), dst = LLVMGetParam(fn, 1);
  int64_t nr = s->nr, full = s->cols / nr, tail = s->cols % nr, tile = s->kc * nr;
  int nvec = (int)(nr / isa->vl);

  if (s->b_cs == 1) {
    /* Rows of B are contiguous: copy them a vector at a time; the tail tile masked. */
    for (int part = 0; part < 2; part++) {
      int64_t ntiles = part == 0 ? full : tail > 0;
      if (ntiles == 0) continue;
      be_loop lt, lp;
      LLVMValueRef t = ntiles == 1 ? be_i64(c, part == 0 ? 0 : full) : be_loop_begin(c, &lt, ntiles, "t");
      LLVMValueRef p = be_loop_begin(c, &lp, s->kc, "p");
      LLVMValueRef from = be_mm_gep(c, src, LLVMBuildAdd(c->b, LLVMBuildMul(c->b, p, be_i64(c, s->b_rs), ""),
                                                         LLVMBuildMul(c->b, t, be_i64(c, nr), ""), ""));
      LLVMValueRef to = be_mm_gep(c, dst, LLVMBuildAdd(c->b, LLVMBuildMul(c->b, t, be_i64(c, tile), ""),
                                                       LLVMBuildMul(c->b, p, be_i64(c, nr), ""), ""));
      for (int v = 0; v < nvec; v++) {
        int64_t lanes = part == 0 ? isa->vl : tail - (int64_t)v * isa->vl;
        LLVMValueRef x = lanes <= 0 ? LLVMConstNull(be_mm_vec_t(c, isa))
                                    : be_mm_load_vec(c, isa, be_mm_gep_const(c, from, v * isa->vl), (int)(lanes > isa->vl ? isa->vl : lanes));
        be_mm_store_vec(c, isa, x, be_mm_gep_const(c, to, v * isa->vl), isa->vl);
      }
      be_loop_end(c, &lp);
      if (ntiles > 1) {
        be_loop_end(c, &lt);
        be_loop_no_unroll(c, &lt); /* copies of the tile loop cost compile time only */
      }
    }
  } else if (s->b_rs == 1 && s->kc >= isa->vl) {
    /* (A panel shorter than a vector is a few hundred floats: the scalar walk packs it in
     * no time, and costs LLVM a tenth of the transposes' code generation.) */
    pack_b_transposed(c, isa, s, src, dst);
  } else {
    pack_b_strided(c, s, src, dst);
  }
  LLVMBuildRetVoid(c->b);
  return be_vector_fn_end(c, at, fn);
}

/* ---- packing A's sliver ---------------------------------------------------------------- */

enum { LINE_FLOATS = 16 };

/* n contiguous floats from `from` to `to` in pieces of a power of two lanes, unmasked: the
 * slivers' rows (6 or 12 floats) end inside a vector, and a masked store holds up every later
 * load whose address matches it in the low 12 bits until it commits (Intel): the masked copy
 * of xᵀ's slivers ran at one float a cycle. */
static void copy_floats(be_ctx *c, const be_mm_isa *isa, LLVMValueRef from, LLVMValueRef to, int n) {
  for (int done = 0, piece = isa->vl; done < n; piece /= 2)
    for (; n - done >= piece; done += piece) {
      LLVMTypeRef t = piece == 1 ? c->f32 : LLVMVectorType(c->f32, (unsigned)piece);
      LLVMValueRef v = LLVMBuildLoad2(c->b, t, be_mm_gep_const(c, from, done), "");
      LLVMSetAlignment(v, 4);
      LLVMSetAlignment(LLVMBuildStore(c->b, v, be_mm_gep_const(c, to, done)), 4);
    }
}

LLVMValueRef be_mm_pack_a(be_ctx *c, const be_mm_isa *isa, const be_pack_a_spec *s) {
  char name[160];
  snprintf(name, sizeof name, "dlc.packa.v%d.s%d.r%d.m%d.k%lld.a%lld_%lld", isa->vl, s->slivers, s->rows, s->mr,
           (long long)s->kc, (long long)s->a_rs, (long long)s->a_cs);
  LLVMValueRef fn = be_vector_fn_find(c, name);
  if (fn) return fn;
  be_emit_point at = be_vector_fn_begin(c);
  fn = be_begin_function(c, name, 2, true);
  LLVMValueRef src = LLVMGetParam(fn, 0), dst = LLVMGetParam(fn, 1);
  be_loop lp;
  LLVMValueRef p = be_loop_begin(c, &lp, s->kc, "p");
  LLVMValueRef from = be_mm_gep(c, src, LLVMBuildMul(c->b, p, be_i64(c, s->a_cs), ""));
  LLVMValueRef to = be_mm_gep(c, dst, LLVMBuildMul(c->b, p, be_i64(c, s->mr), ""));
  if (s->a_rs == 1) {
    /* xᵀ's source rows are a page apart: the lines of the row BE_MM_PREFETCH_ROWS on. */
    int64_t span = (int64_t)(s->slivers - 1) * s->mr + s->rows, ahead = BE_MM_PREFETCH_ROWS * s->a_cs;
    for (int64_t o = 0; o < span; o += LINE_FLOATS) be_mm_prefetch(c, from, ahead + o);
    if (span % LINE_FLOATS) be_mm_prefetch(c, from, ahead + span - 1);
  }
  for (int sl = 0; sl < s->slivers; sl++) {
    int rows = sl == s->slivers - 1 ? s->rows : s->mr;
    LLVMValueRef f = be_mm_gep_const(c, from, (int64_t)sl * s->mr * s->a_rs);
    LLVMValueRef t = be_mm_gep_const(c, to, (int64_t)sl * s->mr * s->kc);
    if (s->a_rs == 1) {
      copy_floats(c, isa, f, t, rows);
    } else {
      for (int r = 0; r < rows; r++) {
        LLVMValueRef x = LLVMBuildLoad2(c->b, c->f32, be_mm_gep_const(c, f, r * s->a_rs), "");
        LLVMBuildStore(c->b, x, be_mm_gep_const(c, t, r));
      }
    }
  }
  be_loop_end(c, &lp);
  LLVMBuildRetVoid(c->b);
  return be_vector_fn_end(c, at, fn);
}

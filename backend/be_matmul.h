/* The matmul code generator's pieces, shared by be_matmul.c (which layout, blocking and task
 * split a matmul gets, and the kernel around them), be_matmul_kernel.c (the register-blocked
 * micro-kernel), be_matmul_pack.c (the packing of A and B), be_matmul_epilogue.c (the fused
 * elementwise ops after the product) and be_matmul_naive.c (the plain loop nest). Internal
 * to the backend. */
#ifndef DLC_BE_MATMUL_H
#define DLC_BE_MATMUL_H

#include "be_internal.h"

/* The vector unit a micro-kernel is written for, from the target's features. */
typedef struct {
  int vl;        /* f32 lanes per vector: 16 (AVX-512), 8 (AVX), 4 (SSE and others) */
  int nregs;     /* vector registers: 32 with AVX-512, else 16 */
  bool fma;      /* fused multiply-add in hardware */
} be_mm_isa;

be_mm_isa be_mm_isa_of(const char *features);

/* One micro-kernel: C[rows x cols] (+)= A[rows x kc] B[kc x cols], the tile of C held in
 * rows * nvec vector registers for the whole kc loop. Element (i, p) of A is at
 * a + i*a_rs + p*a_cs, row p of B's tile at b + p*b_rs (vectors of vl lanes, contiguous),
 * row i of C at c + i*ldc. All of it static: one function per distinct spec, shared by every
 * matmul of the module that needs it. */
typedef struct {
  int rows;          /* 1..mr */
  int nvec;          /* vectors per row of the tile */
  int last_lanes;    /* valid lanes of the last vector (1..vl): masked loads and stores */
  int64_t kc;
  int64_t a_rs, a_cs;
  int64_t b_rs;
  bool b_padded;     /* B's rows hold nvec full vectors (packed, zero-padded): no masked loads */
  int64_t ldc;
} be_mk_spec;

/* The micro-kernel function `void(ptr a, ptr b, ptr c, i64 acc)` for spec, emitted on first
 * use: C += A·B where acc is not 0 (a later block of K), else C = A·B. One function serves
 * every block of K of the same size. Leaves the builder where it was. */
LLVMValueRef be_mm_microkernel(be_ctx *c, const be_mm_isa *isa, const be_mk_spec *s);

/* The narrow micro-kernel, for C narrower than one vector read through Aᵀ (the weight
 * gradient xᵀ·G of a layer with few outputs): the lanes run along C's rows instead of its
 * columns. Per step p it loads A's column p (contiguous: op(A)(i, p) at a + i + p*a_cs) as
 * nvec vectors, broadcasts B(p, j) (at b + p*b_rs + j*b_cs) for each of the `cols` columns
 * and does nvec * cols FMAs, every lane useful; Cᵀ's tile lives in registers for all kc
 * steps, then each element is stored at c + i*ldc + j. C = (no accumulation: kc is all of
 * K). `void(ptr a, ptr b, ptr c)`, emitted on first use. */
typedef struct {
  int nvec;          /* vectors of C's rows: rows = (nvec - 1) * vl + last_lanes */
  int last_lanes;    /* 1..vl: the last vector's loads are masked */
  int cols;          /* C's columns, 1..vl-1 */
  int64_t kc;
  int64_t a_cs;
  int64_t b_rs, b_cs;
  int64_t ldc;
} be_mk_narrow_spec;

LLVMValueRef be_mm_microkernel_narrow(be_ctx *c, const be_mm_isa *isa, const be_mk_narrow_spec *s);

/* Packing of a kc x cols block of B (element (p, j) at src + p*b_rs + j*b_cs) into tiles of
 * nr columns: tile t holds rows p = 0..kc-1 of columns t*nr .. t*nr+nr-1, nr contiguous
 * floats a row, columns past `cols` zero. `void(ptr src, ptr dst)`, emitted on first use. */
typedef struct {
  int64_t kc, cols, nr;
  int64_t b_rs, b_cs;
} be_pack_spec;

LLVMValueRef be_mm_pack_b(be_ctx *c, const be_mm_isa *isa, const be_pack_spec *s);

/* Copy of `slivers` slivers of A (mr rows each, the last one `rows` rows; element (i, p) at
 * src + i*a_rs + p*a_cs) as kc rows of mr contiguous floats each: sliver s at dst + s*mr*kc,
 * dst[s*mr*kc + p*mr + i]. p is the outer loop, so with A read transposed (a_rs = 1) every
 * row p of the source is read as whole lines. `void(ptr src, ptr dst)`. */
typedef struct {
  int slivers, rows, mr;
  int64_t kc;
  int64_t a_rs, a_cs;
} be_pack_a_spec;

LLVMValueRef be_mm_pack_a(be_ctx *c, const be_mm_isa *isa, const be_pack_a_spec *s);

/* Helpers of the matmul files. */
LLVMValueRef be_mm_gep(be_ctx *c, LLVMValueRef base, LLVMValueRef index); /* float* + index */
LLVMValueRef be_mm_gep_const(be_ctx *c, LLVMValueRef base, int64_t index);
/* A hint to fetch the cache line of base + index floats (any address: a prefetch never faults). */
void be_mm_prefetch(be_ctx *c, LLVMValueRef base, int64_t index);
/* The same into L2 only (data read after other data has streamed through L1). */
void be_mm_prefetch_l2(be_ctx *c, LLVMValueRef base, int64_t index);
/* Rows ahead that code walking a source whose rows are a page apart (xᵀ's and h's rows, 3-4
 * KiB) prefetches: the hardware prefetchers stop at pages. The narrow kernel's dW3 in W4
 * 1.4 -> 0.7 % of the step, the Aᵀ packing 3.5 -> 2.7 %. */
enum { BE_MM_PREFETCH_ROWS = 16 };
LLVMValueRef be_mm_scaled(be_ctx *c, LLVMValueRef i, int64_t by);  /* i * by */
LLVMValueRef be_mm_add_i64(be_ctx *c, LLVMValueRef i, int64_t by); /* i + by, i when by is 0 */
void be_mm_call(be_ctx *c, LLVMValueRef fn, LLVMValueRef *args, int n);
/* Code that runs when the i1 cond holds: be_mm_never(cond) is true for a constant false (emit
 * nothing); else what is built between be_mm_when and be_mm_when_end runs only when cond does
 * (no branch for a constant true: be_mm_when returns NULL). */
bool be_mm_never(LLVMValueRef cond);
LLVMBasicBlockRef be_mm_when(be_ctx *c, LLVMValueRef cond);
void be_mm_when_end(be_ctx *c, LLVMBasicBlockRef after);
/* <vl x float> of the isa. */
LLVMTypeRef be_mm_vec_t(be_ctx *c, const be_mm_isa *isa);
/* A vector of `lanes` valid floats at p (unaligned; masked below vl lanes, the rest zero),
 * and its store (masked below vl lanes). */
LLVMValueRef be_mm_load_vec(be_ctx *c, const be_mm_isa *isa, LLVMValueRef p, int lanes);
void be_mm_store_vec(be_ctx *c, const be_mm_isa *isa, LLVMValueRef v, LLVMValueRef p, int lanes);

/* ---- be_matmul.c's blocked kernel, shared with its epilogue (be_matmul_epilogue.c) ---- */

enum { BE_MM_MAX_FAR = 4 };

/* How one 2-D f32 matmul is blocked, split into tasks and tiled (be_matmul.c's plan_geometry),
 * and, while it is emitted, the kernel it is emitted into. */
typedef struct {
  be_mm_isa isa;
  int64_t M, N, K;
  int64_t a_rs, a_cs;      /* op(A)(i, p) at a + i*a_rs + p*a_cs */
  int64_t b_rs, b_cs;      /* op(B)(p, j) at b + p*b_rs + j*b_cs */
  int mr, nvec;            /* micro-tile: mr rows x nvec vectors */
  int64_t nr;              /* nvec * vl */
  int64_t kc, nkfull, kctail; /* K = nkfull * kc + kctail */
  bool pack_b, pack_a;
  bool narrow;             /* lanes along C's rows (be_mm_microkernel_narrow): mr = its rows */
  bool staged;             /* C's tiles go to a row of tiles in the panels (be_group.staged_product) */
  bool edge_overlaps;      /* a part's last rows are a full row of tiles ending there (edge_overlaps) */
  int64_t tm, tn, cm, cn;  /* task grid, and the extent of every task but the last */
  /* while emitting */
  be_ctx *c;
  be_kernel *k;
  LLVMValueRef kfn;        /* the kernel function: the epilogue reads its buffer parameters */
  const char *name;        /* its name, for its helpers' names */
  int nbufs;               /* its buffer parameters (the panel scratch not counted) */
  bool epilogue;           /* the kernel stores members other than the product */
  int far[BE_MM_MAX_FAR];  /* the epilogue's inputs of C's shape from outside the kernel, as */
  int nfar;                /* indices of its buffer parameters (far_inputs) */
} be_mm_geom;

/* What a part function knows about itself while its body is emitted. */
typedef struct {
  LLVMValueRef bp, ap;     /* packed panels of B and A (NULL where not packed) */
  LLVMValueRef stage;      /* the staged row of tiles (g->staged), or NULL */
  LLVMValueRef *bufs;      /* the epilogue's buffers, loaded once */
  LLVMValueRef row0, col0; /* the part's corner in C */
} be_mm_part;

/* `void epi(ptr noalias buffers..., [ptr stage,] i64 i0, i64 j0, i64 rows)` for `cols` columns:
 * the members of the matmul's kernel the plan stores, from the product (be_matmul_epilogue.c). */
LLVMValueRef be_mm_epilogue_fn(be_mm_geom *g, int64_t cols);
/* The epilogue of rows x next elements of C at the part's row `i`, when `epi` (an i1: a
 * constant, or whether this is the last block of K) holds. */
void be_mm_call_epilogue(be_mm_geom *g, const be_mm_part *pc, LLVMValueRef epi, int64_t rows, int64_t next,
                         LLVMValueRef i);

/* The plain loop nest for the matmuls the blocked kernel does not take (be_matmul_naive.c):
 * the whole product stored in its buffer. */
void be_mm_emit_naive(be_kernel *k);

#endif

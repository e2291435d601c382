/* matmul: [..., m, k] @ [..., k, n] -> [..., m, n], batch axes broadcast.
 *
 * Two-dimensional f32 matmuls big enough to matter get the Goto / van de Geijn structure,
 * specialised to their static shapes:
 *
 *   tasks     C is cut into a grid of column (and, when C is narrow or A packed, row)
 *             blocks; each block is one task of the runtime's thread pool (rt_threads.h). The
 *             grid depends on the shapes only, so one thread or many compute every element
 *             of C with the same operations in the same order: bit-identical results.
 *   k blocks  K is cut into blocks of about 256 so a packed panel of B (kc x block width)
 *             stays in L2 while every row tile of A streams past it, unless all of K's
 *             panel fits there (then one block: no edge kernels, C stored once). One loop runs the
 *             blocks; the micro-kernels take a flag: the first block sets C, later ones add.
 *             Loops that only call kernels are kept rolled (loop_or_one_end).
 *   packing   B's panel is copied into tiles of NR columns, kc rows of NR contiguous floats,
 *             zero-padded: the micro-kernel reads it with full-width vector loads. B read
 *             transposed (A·Bᵀ) is always packed, by vl x vl transposes in registers
 *             (be_matmul_pack.c); a small row-major B is read in place.
 *             Panels live in the kernel's share of the step's planned scratch (be_plan.c
 *             sizes it with be_matmul_panel_bytes), one share per thread slot of the job
 *             (rt_task_slot): a step allocates nothing.
 *   A         row-major A is read in place: the micro-kernel broadcasts A(i, p) straight
 *             from it with static strides, and A's MR x kc sliver stays in L1 across the
 *             tiles of a row. Aᵀ is packed a few slivers at a time (see emit_rows_packed).
 *   micro     an MR x NR tile of C in registers for the whole kc loop (be_matmul_kernel.c).
 *   narrow    C narrower than a vector and read through Aᵀ (a weight gradient xᵀ·G) puts
 *             the lanes along C's rows instead (plan_narrow, be_mm_microkernel_narrow).
 *   epilogue  elementwise ops that the fuse pass put in the matmul's kernel (bias add,
 *             activation, the activation's mask) run on each row of tiles after its last
 *             k block, while it is in cache (epilogue_fn); the product is stored only when
 *             something outside the kernel reads it, else its partial sums live in the
 *             buffer of a value the epilogue stores, or, with K in one block, a row of tiles
 *             at a time in the task's panels (staged: a weight gradient the update reads).
 *
 * Transposed operands are read in place: the fuse pass puts a `transpose` whose only user
 * is a matmul into the matmul's kernel, and this emitter reads the transpose's operand with
 * swapped strides instead of materialising it. Static sizes leave no remainder code where
 * the sizes divide: the last row tile, column tile and k block get micro-kernels of their
 * own only when they exist, and with K in one block the last rows are a full row of tiles
 * overlapping the one before (edge_overlaps).
 *
 * Everything else (batched or broadcast matmuls, other dtypes, operands computed inside the
 * kernel, tiny products) uses the plain loop nest of be_matmul_naive.c; its epilogue then runs
 * once over the whole product. The epilogue's code is in be_matmul_epilogue.c. */
#include <stdio.h>
#include <string.h>

#include "be_matmul.h"

/* ---- the blocked kernel ------------------------------------------------------------------ */

enum {
  KC_MAX = 256,        /* K up to KC_SINGLE, or K x cn up to L2_IN_PLACE, is one block; else blocks of about KC_MAX */
  KC_SINGLE = 384,
  NC_MAX = 512,        /* columns of C per task: a kc x 512 panel of B is 512 KiB */
  PACK_MIN = 16384,    /* a row-major B of fewer elements is read in place */
  L2_IN_PLACE = 65536, /* ... and one whose task's panel is up to this many (256 KiB) */
  SPLIT_FLOPS = 1 << 21, /* products below 2 MFLOP stay one task: the pool costs microseconds */
  TASKS = 4,           /* tasks a larger product is split into: balanced on 1, 2 or 4 threads */
};

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Operand x of matmul group gi as op(X)(r, s) = buffer of *src at r*rs + s*cs: x itself when
 * another kernel computes it, or the operand of a 2-D transpose inside this kernel (read with
 * swapped strides). False when neither: the plain loop nest computes it. */
static bool operand_of(const be_plan *p, int gi, const ir_node *x, const ir_node **src, int64_t *rs,
                       int64_t *cs) {
  if (x->type.rank != 2 || x->op == IR_OP_CONST || x->op == IR_OP_IOTA) return false;
  if (p->group_of[x->id] != gi) {
    *src = x;
    *rs = x->type.dims[1];
    *cs = 1;
    return true;
  }
  if (x->op != IR_OP_TRANSPOSE || x->attrs.naxes != 2 || x->attrs.axes[0] != 1) return false;
  const ir_node *s = x->args[0];
  if (s->op == IR_OP_CONST || s->op == IR_OP_IOTA || p->group_of[s->id] == gi) return false;
  *src = s;
  *rs = 1;
  *cs = s->type.dims[1];
  return true;
}

/* C narrower than a vector, read through Aᵀ (the weight gradient xᵀ·G of a layer with few
 * outputs): with the lanes along C's rows every lane does useful work, ceil(M / vl) · N FMAs
 * a step instead of M, and A's column is one contiguous load. As many row vectors as leave
 * room for the N accumulators of each, their A vectors and a broadcast; K in one block (no
 * panel: the tile sits in registers, B is read once per tile). Row-major A would need A's
 * columns gathered: it keeps the ordinary kernel. */
static bool plan_narrow(be_mm_geom *g) {
  const be_mm_isa *isa = &g->isa;
  int64_t mvecs = ceil_div(g->M, isa->vl);
  if (g->a_rs != 1 || g->N >= isa->vl || mvecs * g->N >= g->M) return false;
  int64_t nv = (isa->nregs - 1) / (g->N + 1);
  if (nv > 4) nv = 4;
  if (nv > mvecs) nv = mvecs;
  g->narrow = true;
  g->mr = (int)(nv * isa->vl);
  g->nvec = 1;
  g->nr = isa->vl;
  g->kc = g->K;
  g->nkfull = 1;
  g->kctail = 0;
  g->tn = 1;
  g->cn = g->N;
  int64_t ntm = ceil_div(g->M, g->mr);
  int64_t want = (double)2 * g->M * g->N * g->K >= SPLIT_FLOPS ? TASKS : 1;
  int64_t per_m = ceil_div(ntm, want < ntm ? want : ntm);
  g->tm = ceil_div(ntm, per_m);
  g->cm = per_m * g->mr;
  if (g->cm > g->M) g->cm = g->M;
  return true;
}

/* A row-major B whose panel (kc x cn: what every row tile of a task reads again) stays in
 * L2 is read where it is: packing it costs a copy per task that shares it (a weight
 * gradient's G with A packed is copied by each of four row tasks: 2.4 % of W3's step), and
 * its tiles stream from L2 either way (W3's x·W1, 1 KiB rows: step -1.5 %). Not with rows a
 * multiple of 4 KiB apart: those fall in a sixteenth of L2's sets. */
static bool b_in_place(const be_mm_geom *g) {
  return g->K * g->N < PACK_MIN || (g->kc * g->cn <= L2_IN_PLACE && g->b_rs % 1024 != 0);
}

static void plan_geometry(be_mm_geom *g) {
  const be_mm_isa *isa = &g->isa;
  if (plan_narrow(g)) return;
  /* Accumulators plus B's vectors plus a broadcast fill the register file. A tile wide in
   * vectors needs fewer broadcasts of A per FMA: with 32 registers, 6 rows x 4 vectors ran at
   * 90-95 % of the core's peak on Intel (Ice Lake), 12 x 2 at 78-80 % and 8 x 2 at 75 %, with
   * B streaming from L2 (W3 and W4 steps -10 to -15 %). With 16 registers, 6 x 2. */
  int64_t want_vec = ceil_div(g->N, isa->vl);
  int most_vec = isa->nregs >= 32 ? 4 : 2;
  g->nvec = want_vec < most_vec ? (int)want_vec : most_vec;
  int budget = isa->nregs - g->nvec - 2;
  g->mr = budget / g->nvec;
  /* More rows would fit with one vector, but rows of A 4 KiB apart then share an L1 set
   * beyond its ways (K = 1024): 12 rows measured fastest. */
  if (g->mr > 12) g->mr = 12;
  if (g->mr > g->M) g->mr = (int)g->M;
  g->nr = (int64_t)g->nvec * isa->vl;
  /* Aᵀ: the sliver's rows p are a_cs apart, and with a_cs a multiple of 1024 every one of
   * them falls in the same L1 set, so the sliver cannot stay in L1. A copy of it, mr x kc
   * contiguous, costs one vector load and store per k and is reused by every tile of the
   * row. Row-major A is read in place. */
  g->pack_a = g->a_cs != 1 && g->N > g->nr;

  int64_t ntn = ceil_div(g->N, g->nr), ntm = ceil_div(g->M, g->mr);
  int64_t want = (double)2 * g->M * g->N * g->K >= SPLIT_FLOPS ? TASKS : 1;
  /* Tasks side by side share no packing: each packs its own panel of B and, with A packed,
   * all of A again. So a packed A is cut by rows (each task packs its rows of A once and
   * B's panel, as wide as NC_MAX allows); a row-major A, read in place, by columns. */
  int64_t per_n = g->pack_a ? ntn : ceil_div(ntn, want < ntn ? want : ntn);
  if (per_n * g->nr > NC_MAX) per_n = NC_MAX / g->nr;
  g->tn = ceil_div(ntn, per_n);
  g->cn = per_n * g->nr;
  if (g->cn > g->N) g->cn = g->N;
  int64_t per_m = ntm;
  if (g->tn < want) per_m = ceil_div(ntm, ceil_div(want, g->tn) < ntm ? ceil_div(want, g->tn) : ntm);
  g->tm = ceil_div(ntm, per_m);
  g->cm = per_m * g->mr;
  if (g->cm > g->M) g->cm = g->M;
  if (g->K <= KC_SINGLE || g->K * g->cn <= L2_IN_PLACE) {
    g->kc = g->K;
  } else {
    int64_t nb = ceil_div(g->K, KC_MAX);
    g->kc = ceil_div(ceil_div(g->K, nb), 4) * 4;
  }
  g->nkfull = g->K / g->kc;
  g->kctail = g->K % g->kc;
  g->pack_b = g->b_cs != 1 || (g->M > g->mr && !b_in_place(g));
}

/* The blocked geometry of matmul group gi for isa; false when the plain loop nest does it
 * (batched, other dtypes, operands computed inside the kernel, matrix-vector and tiny
 * products, for which the plain loops are as good). */
static bool geometry_of(const be_plan *p, int gi, be_mm_isa isa, be_mm_geom *g, const ir_node **asrc,
                        const ir_node **bsrc) {
  const ir_node *mm = p->groups[gi].sink;
  const ir_type *ct = &mm->type;
  if (ct->rank != 2 || ct->dtype != IR_F32) return false;
  memset(g, 0, sizeof *g);
  g->isa = isa;
  g->M = ct->dims[0];
  g->N = ct->dims[1];
  if (!operand_of(p, gi, mm->args[0], asrc, &g->a_rs, &g->a_cs) ||
      !operand_of(p, gi, mm->args[1], bsrc, &g->b_rs, &g->b_cs))
    return false;
  g->K = mm->args[0]->type.dims[1];
  if (g->N < 2 || g->M * g->N * g->K < 4096) return false;
  plan_geometry(g);
  g->staged = p->groups[gi].staged_product;
  return true;
}

/* K in one block and the epilogue after each row of tiles (every part at least a vector
 * wide, see emit_part): a row of tiles is all of the product that is ever live. */
static bool stage_fits(const be_mm_geom *g) {
  int64_t last_n = g->N - (g->tn - 1) * g->cn;
  return !g->narrow && g->nkfull == 1 && g->kctail == 0 && g->cn >= g->isa.vl && last_n >= g->isa.vl;
}

/* Floats of one task's panel of B (kc x cn, in nr-column tiles), rounded to 16 floats so the
 * panel of A after it starts on a cache line. */
static int64_t b_panel_floats(const be_mm_geom *g) {
  return g->pack_b ? ceil_div(g->kc * ceil_div(g->cn, g->nr) * g->nr, 16) * 16 : 0;
}

/* Slivers of a packed A copied together: the fewest from four on whose row is whole cache
 * lines of the source (8 x 6 rows: W4 0.3-0.5 % faster than 4 x 6, a line and a half). */
static int a_chunk(const be_mm_geom *g) {
  for (int s = 4; s <= 8; s++)
    if (s * g->mr % 16 == 0) return s;
  return 4;
}

static int64_t a_panel_floats(const be_mm_geom *g) {
  return g->pack_a ? ceil_div(g->kc * g->mr * a_chunk(g), 16) * 16 : 0;
}

/* Floats of one task's panels: B's, then A's slivers, then the staged row of tiles (mr rows
 * of C's width: the micro-kernels store it as they would store C), rounded the same way. */
static int64_t task_panel_floats(const be_mm_geom *g) {
  return b_panel_floats(g) + a_panel_floats(g) + (g->staged ? ceil_div(g->mr * g->N, 16) * 16 : 0);
}

/* Every vector unit be_mm_isa_of can name: the plan does not know the host. */
static const be_mm_isa any_isa[] = {{16, 32, true}, {8, 16, true}, {4, 16, false}};
enum { N_ISA = sizeof any_isa / sizeof any_isa[0] };

bool be_matmul_can_stage(const be_plan *p, int gi) {
  for (int i = 0; i < N_ISA; i++) {
    be_mm_geom g;
    const ir_node *a, *b;
    if (!geometry_of(p, gi, any_isa[i], &g, &a, &b) || !stage_fits(&g)) return false;
  }
  return true;
}

size_t be_matmul_panel_bytes(const be_plan *p, int gi) {
  size_t most = 0;
  for (int i = 0; i < N_ISA; i++) {
    be_mm_geom g;
    const ir_node *a, *b;
    if (!geometry_of(p, gi, any_isa[i], &g, &a, &b)) continue;
    size_t bytes = (size_t)(g.tm * g.tn * task_panel_floats(&g)) * sizeof(float);
    if (bytes > most) most = bytes;
  }
  return most;
}

/* A counted loop, or its only index when it runs once. These loops only call kernels, each
 * thousands of cycles: unrolling them buys nothing and multiplies the code LLVM compiles. */
static LLVMValueRef loop_or_one(be_ctx *c, be_loop *l, int64_t n, const char *name) {
  return n == 1 ? be_i64(c, 0) : be_loop_begin(c, l, n, name);
}
static void loop_or_one_end(be_ctx *c, be_loop *l, int64_t n) {
  if (n == 1) return;
  be_loop_end(c, l);
  be_loop_no_unroll(c, l);
}

/* ---- tasks, blocks and tiles ------------------------------------------------------------- */

/* Where row of tiles i of the part at cp stores: its rows of C, or the staged row. */
static LLVMValueRef c_tile_row(be_mm_geom *g, LLVMValueRef cp, LLVMValueRef i) {
  return g->staged ? cp : be_mm_gep(g->c, cp, be_mm_scaled(g->c, i, g->mr * g->N));
}

/* The lines of the epilogue's far inputs (far_inputs) under the tile of `rows` rows and nvec
 * vectors at the part's (row, col), fetched into L2 while the tile is computed when the
 * epilogue runs after this block (epi): the epilogue of the row of tiles reads them a few
 * micro-kernels later, and rows of W 4 KiB apart are no stream the hardware follows. The SGD
 * update epilogues of W4's weight gradients: 2.6 -> 1.4 % of the step. */
static void prefetch_far(be_mm_geom *g, const be_mm_part *pc, LLVMValueRef epi, LLVMValueRef row, int rows,
                         LLVMValueRef col, int nvec) {
  be_ctx *c = g->c;
  if (g->nfar == 0 || be_mm_never(epi)) return;
  LLVMBasicBlockRef after = be_mm_when(c, epi);
  LLVMValueRef at = LLVMBuildAdd(c->b, be_mm_scaled(c, LLVMBuildAdd(c->b, pc->row0, row, ""), g->N),
                                 LLVMBuildAdd(c->b, pc->col0, col, ""), "");
  for (int f = 0; f < g->nfar; f++) {
    LLVMValueRef base = be_mm_gep(c, pc->bufs[g->far[f]], at);
    for (int r = 0; r < rows; r++)
      for (int v = 0; v < nvec; v++) be_mm_prefetch_l2(c, base, r * g->N + (int64_t)v * g->isa.vl);
  }
  be_mm_when_end(c, after);
}

/* The micro-kernels of one row of tiles, at the part's row `row`: full column tiles, then the
 * tail tile. a_tile is A's sliver, packed (pack_a) or in place; epi: whether the epilogue
 * follows this block. */
static void emit_tile_row(be_mm_geom *g, const be_mm_part *pc, int rows, int64_t kc, LLVMValueRef acc,
                          LLVMValueRef epi, int64_t next, LLVMValueRef a_tile, LLVMValueRef b_blk, LLVMValueRef row,
                          LLVMValueRef c_row) {
  be_ctx *c = g->c;
  be_mk_spec s = {.rows = rows, .nvec = g->nvec, .last_lanes = g->isa.vl, .kc = kc,
                  .a_rs = g->pack_a ? 1 : g->a_rs, .a_cs = g->pack_a ? g->mr : g->a_cs,
                  .b_rs = g->pack_b ? g->nr : g->b_rs, .b_padded = g->pack_b, .ldc = g->N};
  int64_t full = next / g->nr, tail = next % g->nr;
  int64_t b_step = g->pack_b ? kc * g->nr : g->nr; /* from one column tile of B to the next */
  if (full > 0) {
    LLVMValueRef mk = be_mm_microkernel(c, &g->isa, &s);
    be_loop lj;
    LLVMValueRef j = loop_or_one(c, &lj, full, "jr");
    LLVMValueRef args[4] = {a_tile, be_mm_gep(c, b_blk, be_mm_scaled(c, j, b_step)),
                            be_mm_gep(c, c_row, be_mm_scaled(c, j, g->nr)), acc};
    prefetch_far(g, pc, epi, row, rows, be_mm_scaled(c, j, g->nr), g->nvec);
    be_mm_call(c, mk, args, 4);
    loop_or_one_end(c, &lj, full);
  }
  if (tail > 0) {
    s.nvec = (int)ceil_div(tail, g->isa.vl);
    s.last_lanes = (int)(tail - (int64_t)(s.nvec - 1) * g->isa.vl);
    LLVMValueRef mk = be_mm_microkernel(c, &g->isa, &s);
    LLVMValueRef args[4] = {a_tile, be_mm_gep_const(c, b_blk, full * b_step), be_mm_gep_const(c, c_row, full * g->nr),
                            acc};
    prefetch_far(g, pc, epi, row, rows, be_i64(c, full * g->nr), s.nvec);
    be_mm_call(c, mk, args, 4);
  }
}

/* Whether member m of the matmul's kernel is stored where the kernel reads an operand: A, B,
 * or, when `leaves`, any value from outside the kernel (W of an in-place update). */
static bool stores_over_input(const be_mm_geom *g, const ir_node *m, const ir_node *asrc, const ir_node *bsrc,
                              bool leaves) {
  const be_plan *p = g->k->plan;
  const be_group *grp = &p->groups[g->k->group];
  LLVMValueRef mb = g->k->buf[m->id];
  if (mb == g->k->buf[asrc->id] || mb == g->k->buf[bsrc->id]) return true;
  for (int i = 0; leaves && i < grp->nnodes; i++)
    for (int a = 0; a < grp->nodes[i]->nargs; a++) {
      const ir_node *x = grp->nodes[i]->args[a];
      if (p->group_of[x->id] != g->k->group && g->k->buf[x->id] == mb) return true;
    }
  return false;
}

/* Whether a part's last rows (fewer than mr) may be computed as a full row of tiles that ends
 * at the part's last row, overlapping the row of tiles before, instead of by micro-kernels
 * of their own (three of W3's nine: its JIT compile -6 %). With K in one block the overlapped
 * rows get the same FMA chains again, so the same bits. The epilogue then runs again on the
 * overlapped rows (emit_edge_rows), the same values from the same inputs, unless it
 * stores over one of them; a staged product's epilogue (an in-place update) runs on the new
 * rows only. The kernel must not store where it reads A or B. */
static bool edge_overlaps(const be_mm_geom *g, const ir_node *asrc, const ir_node *bsrc) {
  if (g->narrow || g->nkfull != 1 || g->kctail != 0) return false;
  const be_group *grp = &g->k->plan->groups[g->k->group];
  for (int i = 0; i < grp->nnodes; i++) {
    const ir_node *m = grp->nodes[i];
    if (m == grp->sink || !g->k->plan->materialize[m->id]) continue;
    if (stores_over_input(g, m, asrc, bsrc, !g->staged)) return false;
  }
  return true;
}

/* Whether a part of mext rows ends in rows that overlap the row of tiles before (edge_overlaps). */
static bool tail_overlaps(const be_mm_geom *g, int64_t mext) {
  return g->edge_overlaps && mext % g->mr > 0 && mext > g->mr;
}

/* The part's last `mext % mr` rows as the full row of tiles on rows mext - mr .. mext - 1
 * (edge_overlaps), then its epilogue: on all of them, or, staged, on the new rows only. */
static void emit_edge_rows(be_mm_geom *g, const be_mm_part *pc, int64_t mext, int64_t next, int64_t kc,
                           LLVMValueRef acc, LLVMValueRef epi, LLVMValueRef a_blk, LLVMValueRef b_blk,
                           LLVMValueRef cp) {
  be_ctx *c = g->c;
  int64_t tail = mext % g->mr, row = mext - g->mr;
  LLVMValueRef a_tile = be_mm_gep_const(c, a_blk, row * g->a_rs);
  if (g->pack_a) {
    be_pack_a_spec pa = {.slivers = 1, .rows = g->mr, .mr = g->mr, .kc = kc, .a_rs = g->a_rs, .a_cs = g->a_cs};
    LLVMValueRef args[2] = {a_tile, pc->ap};
    be_mm_call(c, be_mm_pack_a(c, &g->isa, &pa), args, 2);
    a_tile = pc->ap;
  }
  emit_tile_row(g, pc, g->mr, kc, acc, epi, next, a_tile, b_blk, be_i64(c, row),
                g->staged ? cp : be_mm_gep_const(c, cp, row * g->N));
  if (!g->staged) {
    be_mm_call_epilogue(g, pc, epi, g->mr, next, be_i64(c, row));
    return;
  }
  be_mm_part shifted = *pc; /* the staged row holds rows from `row` on: the new ones start mr - tail in */
  shifted.stage = be_mm_gep_const(c, pc->stage, (g->mr - tail) * g->N);
  be_mm_call_epilogue(g, &shifted, epi, tail, next, be_i64(c, mext - tail));
}

/* Packs `slivers` slivers of A's block from row sliver `first` on (the last one `rows` rows)
 * and runs their rows of tiles, each followed by its epilogue when epi. */
static void packed_rows(be_mm_geom *g, const be_mm_part *pc, LLVMValueRef first, int slivers, int rows, int64_t next,
                        int64_t kc, LLVMValueRef acc, LLVMValueRef epi, LLVMValueRef a_blk, LLVMValueRef b_blk,
                        LLVMValueRef cp) {
  be_ctx *c = g->c;
  be_pack_a_spec pa = {.slivers = slivers, .rows = rows, .mr = g->mr, .kc = kc, .a_rs = g->a_rs, .a_cs = g->a_cs};
  LLVMValueRef args[2] = {be_mm_gep(c, a_blk, be_mm_scaled(c, first, g->mr * g->a_rs)), pc->ap};
  be_mm_call(c, be_mm_pack_a(c, &g->isa, &pa), args, 2);
  /* The slivers of mr rows in a loop (one copy of the tile row's code), then a shorter last. */
  int full = rows == g->mr ? slivers : slivers - 1;
  if (full > 0) {
    be_loop ls;
    LLVMValueRef sl = loop_or_one(c, &ls, full, "sl");
    LLVMValueRef i = LLVMBuildAdd(c->b, first, sl, "");
    emit_tile_row(g, pc, g->mr, kc, acc, epi, next, be_mm_gep(c, pc->ap, be_mm_scaled(c, sl, g->mr * kc)), b_blk,
                  be_mm_scaled(c, i, g->mr), c_tile_row(g, cp, i));
    be_mm_call_epilogue(g, pc, epi, g->mr, next, be_mm_scaled(c, i, g->mr));
    loop_or_one_end(c, &ls, full);
  }
  if (full < slivers) {
    LLVMValueRef i = be_mm_add_i64(c, first, full);
    emit_tile_row(g, pc, rows, kc, acc, epi, next, be_mm_gep_const(c, pc->ap, (int64_t)full * g->mr * kc), b_blk,
                  be_mm_scaled(c, i, g->mr), c_tile_row(g, cp, i));
    be_mm_call_epilogue(g, pc, epi, rows, next, be_mm_scaled(c, i, g->mr));
  }
}

/* The rows of tiles of a block whose A is packed (Aᵀ: its rows are far apart), a_chunk slivers
 * at a time: their row p is a_chunk · mr contiguous floats of the source (whole cache lines:
 * 8 x 6 or 4 x 12), which one pass copies, instead of a line a sliver. */
static void emit_rows_packed(be_mm_geom *g, const be_mm_part *pc, int64_t mext, int64_t next, int64_t kc,
                             LLVMValueRef acc, LLVMValueRef epi, LLVMValueRef a_blk, LLVMValueRef b_blk,
                             LLVMValueRef cp) {
  be_ctx *c = g->c;
  int chunk = a_chunk(g);
  int64_t full = mext / g->mr, tail = mext % g->mr, nch = full / chunk, rest = full % chunk;
  bool shift = tail_overlaps(g, mext);
  if (nch > 0) {
    be_loop lc;
    LLVMValueRef first = be_mm_scaled(c, loop_or_one(c, &lc, nch, "ch"), chunk);
    packed_rows(g, pc, first, chunk, g->mr, next, kc, acc, epi, a_blk, b_blk, cp);
    loop_or_one_end(c, &lc, nch);
  }
  bool own_tail = tail > 0 && !shift;
  if (rest + own_tail > 0)
    packed_rows(g, pc, be_i64(c, nch * chunk), (int)(rest + own_tail), own_tail ? (int)tail : g->mr, next, kc, acc,
                epi, a_blk, b_blk, cp);
  if (shift) emit_edge_rows(g, pc, mext, next, kc, acc, epi, a_blk, b_blk, cp);
}

/* The rows of tiles of a narrow product (plan_narrow): K in one call each, then the epilogue. */
static void emit_rows_narrow(be_mm_geom *g, const be_mm_part *pc, int64_t mext, LLVMValueRef epi, LLVMValueRef a,
                             LLVMValueRef b, LLVMValueRef cp) {
  be_ctx *c = g->c;
  int vl = g->isa.vl;
  be_mk_narrow_spec s = {.nvec = g->mr / vl, .last_lanes = vl, .cols = (int)g->N, .kc = g->K, .a_cs = g->a_cs,
                         .b_rs = g->b_rs, .b_cs = g->b_cs, .ldc = g->N};
  int64_t full = mext / g->mr, tail = mext % g->mr;
  if (full > 0) {
    be_loop li;
    LLVMValueRef i = loop_or_one(c, &li, full, "ir");
    LLVMValueRef args[3] = {be_mm_gep(c, a, be_mm_scaled(c, i, g->mr)), b,
                            be_mm_gep(c, cp, be_mm_scaled(c, i, g->mr * g->N))};
    be_mm_call(c, be_mm_microkernel_narrow(c, &g->isa, &s), args, 3);
    be_mm_call_epilogue(g, pc, epi, g->mr, g->N, be_mm_scaled(c, i, g->mr));
    loop_or_one_end(c, &li, full);
  }
  if (tail > 0) {
    s.nvec = (int)ceil_div(tail, vl);
    s.last_lanes = (int)(tail - (int64_t)(s.nvec - 1) * vl);
    LLVMValueRef args[3] = {be_mm_gep_const(c, a, full * g->mr), b, be_mm_gep_const(c, cp, full * g->mr * g->N)};
    be_mm_call(c, be_mm_microkernel_narrow(c, &g->isa, &s), args, 3);
    be_mm_call_epilogue(g, pc, epi, tail, g->N, be_i64(c, full * g->mr));
  }
}

/* One k block of a task: pack B's panel (if packed), then every tile of C, which starts from
 * zero or adds to what earlier blocks left as `acc` (i64) says; each row of tiles gets its
 * epilogue when `epi` (i1) holds. */
static void emit_block(be_mm_geom *g, const be_mm_part *pc, int64_t mext, int64_t next, int64_t kc, LLVMValueRef acc,
                       LLVMValueRef epi, LLVMValueRef a_blk, LLVMValueRef b_blk, LLVMValueRef cp) {
  be_ctx *c = g->c;
  if (g->narrow) {
    emit_rows_narrow(g, pc, mext, epi, a_blk, b_blk, cp);
    return;
  }
  if (g->pack_b) {
    be_pack_spec ps = {.kc = kc, .cols = next, .nr = g->nr, .b_rs = g->b_rs, .b_cs = g->b_cs};
    LLVMValueRef args[2] = {b_blk, pc->bp};
    be_mm_call(c, be_mm_pack_b(c, &g->isa, &ps), args, 2);
    b_blk = pc->bp;
  }
  int64_t full = mext / g->mr, tail = mext % g->mr;
  if (g->pack_a) {
    emit_rows_packed(g, pc, mext, next, kc, acc, epi, a_blk, b_blk, cp);
    return;
  }
  if (full > 0) {
    be_loop li;
    LLVMValueRef i = loop_or_one(c, &li, full, "ir");
    emit_tile_row(g, pc, g->mr, kc, acc, epi, next, be_mm_gep(c, a_blk, be_mm_scaled(c, i, g->mr * g->a_rs)), b_blk,
                  be_mm_scaled(c, i, g->mr), c_tile_row(g, cp, i));
    be_mm_call_epilogue(g, pc, epi, g->mr, next, be_mm_scaled(c, i, g->mr));
    loop_or_one_end(c, &li, full);
  }
  if (tail_overlaps(g, mext)) {
    emit_edge_rows(g, pc, mext, next, kc, acc, epi, a_blk, b_blk, cp);
  } else if (tail > 0) {
    emit_tile_row(g, pc, (int)tail, kc, acc, epi, next, be_mm_gep_const(c, a_blk, full * g->mr * g->a_rs), b_blk,
                  be_i64(c, full * g->mr), c_tile_row(g, cp, be_i64(c, full)));
    be_mm_call_epilogue(g, pc, epi, tail, next, be_i64(c, full * g->mr));
  }
}

/* `void part(ptr a, ptr b, ptr c, ptr panels, ptr bufs, i64 row0, i64 col0)`: C[mext x next]
 * of one task, its corner at (row0, col0) of the operands a, b and the product c (unused when
 * staged); panels is the task's packing scratch, bufs the kernel's buffers for the epilogue. */
static LLVMValueRef emit_part(be_mm_geom *g, int64_t mext, int64_t next) {
  be_ctx *c = g->c;
  char name[256];
  snprintf(name, sizeof name, "%s.part%lldx%lld", g->name, (long long)mext, (long long)next);
  LLVMValueRef fn = LLVMGetNamedFunction(c->mod, name);
  if (fn) return fn;
  fn = be_begin_function_args(c, name, 5, 0, 2, true);
  be_mark_glue(c, fn);
  LLVMValueRef panels = LLVMGetParam(fn, 3), bufs = LLVMGetParam(fn, 4), row0 = LLVMGetParam(fn, 5),
               col0 = LLVMGetParam(fn, 6);
  LLVMValueRef a = be_mm_gep(c, LLVMGetParam(fn, 0), be_mm_scaled(c, row0, g->a_rs));
  LLVMValueRef b = be_mm_gep(c, LLVMGetParam(fn, 1), be_mm_scaled(c, col0, g->b_cs));
  LLVMValueRef loaded[g->nbufs + 1];
  for (int q = 0; q < g->nbufs; q++) {
    LLVMValueRef idx = be_i64(c, q);
    loaded[q] = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildInBoundsGEP2(c->b, c->ptr, bufs, &idx, 1, ""), "");
  }
  be_mm_part pc = {.bp = g->pack_b ? panels : NULL,
                   .ap = g->pack_a ? be_mm_gep_const(c, panels, b_panel_floats(g)) : NULL,
                   .stage = g->staged ? be_mm_gep_const(c, panels, b_panel_floats(g) + a_panel_floats(g)) : NULL,
                   .bufs = loaded, .row0 = row0, .col0 = col0};
  /* Where the part's tiles store: its corner of C, or its columns of the staged row. */
  LLVMValueRef cp = g->staged
                        ? be_mm_gep(c, pc.stage, col0)
                        : be_mm_gep(c, LLVMGetParam(fn, 2), LLVMBuildAdd(c->b, be_mm_scaled(c, row0, g->N), col0, ""));
  /* One loop over the full blocks of K (the first sets C, the others add to it), then the
   * shorter tail block; the last of them all runs the epilogue, a row of tiles at a time
   * while it is in cache. Not for C narrower than a vector: there the tiles are stored with
   * a lane mask, and a masked load right after a masked store to the same address stalls
   * (Zen: ~25 cycles a row, a fifth of W2's step); the part's whole C (N · rows floats)
   * stays in cache, so its one epilogue runs after the last tile. */
  LLVMValueRef no = LLVMConstInt(c->i1, 0, 0), yes = LLVMConstInt(c->i1, 1, 0);
  bool tail = g->kctail > 0, epi_per_tile = g->epilogue && next >= g->isa.vl;
  if (g->nkfull > 0) {
    be_loop lk;
    LLVMValueRef kb = loop_or_one(c, &lk, g->nkfull, "kb");
    LLVMValueRef first = LLVMBuildICmp(c->b, LLVMIntEQ, kb, be_i64(c, 0), "");
    LLVMValueRef acc = LLVMBuildZExt(c->b, LLVMBuildNot(c->b, first, ""), c->i64, "");
    LLVMValueRef epi =
        !epi_per_tile || tail ? no : LLVMBuildICmp(c->b, LLVMIntEQ, kb, be_i64(c, g->nkfull - 1), "");
    LLVMValueRef p0 = be_mm_scaled(c, kb, g->kc);
    emit_block(g, &pc, mext, next, g->kc, acc, epi, be_mm_gep(c, a, be_mm_scaled(c, p0, g->a_cs)),
               be_mm_gep(c, b, be_mm_scaled(c, p0, g->b_rs)), cp);
    loop_or_one_end(c, &lk, g->nkfull);
  }
  if (tail) {
    int64_t p0 = g->nkfull * g->kc;
    emit_block(g, &pc, mext, next, g->kctail, be_i64(c, g->nkfull > 0), epi_per_tile ? yes : no,
               be_mm_gep_const(c, a, p0 * g->a_cs), be_mm_gep_const(c, b, p0 * g->b_rs), cp);
  }
  if (g->epilogue && !epi_per_tile) be_mm_call_epilogue(g, &pc, yes, mext, next, be_i64(c, 0));
  LLVMBuildRetVoid(c->b);
  return fn;
}

static LLVMValueRef declare(be_ctx *c, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, int n) {
  LLVMValueRef fn = LLVMGetNamedFunction(c->mod, name);
  if (!fn) {
    fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(ret, params, (unsigned)n, 0));
    be_add_fn_attr(c, fn, "nounwind");
  }
  return fn;
}

/* `void task(ptr ctx, i64 i)`: ctx holds a, b, c, the panels and the epilogue's buffers;
 * task i is block (i / tn, i % tn) and packs into its thread's share of the panels. */
static LLVMValueRef emit_task(be_mm_geom *g, LLVMValueRef parts[2][2]) {
  be_ctx *c = g->c;
  char name[256];
  snprintf(name, sizeof name, "%s.task", g->name);
  LLVMTypeRef params[2] = {c->ptr, c->i64};
  LLVMValueRef fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(c->void_t, params, 2, 0));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  be_set_function_attrs(c, fn);
  be_mark_glue(c, fn);
  LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
  LLVMValueRef ctx = LLVMGetParam(fn, 0), i = LLVMGetParam(fn, 1), ptr[5];
  for (int q = 0; q < 5; q++) {
    LLVMValueRef idx = be_i64(c, q);
    ptr[q] = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildInBoundsGEP2(c->b, c->ptr, ctx, &idx, 1, ""), "");
  }
  LLVMValueRef ti = LLVMBuildUDiv(c->b, i, be_i64(c, g->tn), "ti");
  LLVMValueRef tj = LLVMBuildURem(c->b, i, be_i64(c, g->tn), "tj");
  LLVMValueRef row0 = be_mm_scaled(c, ti, g->cm), col0 = be_mm_scaled(c, tj, g->cn);
  LLVMValueRef slotfn = declare(c, "rt_task_slot", c->i32, NULL, 0);
  LLVMValueRef slot = LLVMBuildCall2(c->b, LLVMGlobalGetValueType(slotfn), slotfn, NULL, 0, "slot");
  LLVMValueRef panels =
      be_mm_gep(c, ptr[3], be_mm_scaled(c, LLVMBuildZExt(c->b, slot, c->i64, ""), task_panel_floats(g)));
  LLVMValueRef last_m = LLVMBuildICmp(c->b, LLVMIntEQ, ti, be_i64(c, g->tm - 1), "");
  LLVMValueRef last_n = LLVMBuildICmp(c->b, LLVMIntEQ, tj, be_i64(c, g->tn - 1), "");
  LLVMValueRef args[7] = {ptr[0], ptr[1], ptr[2], panels, ptr[4], row0, col0};
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
      if (parts[lm][ln]) be_mm_call(c, parts[lm][ln], args, 7);
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


/* An array of n pointers in the kernel function's frame. */
static LLVMValueRef ptr_array(be_ctx *c, LLVMValueRef *vals, int n, const char *name) {
  LLVMValueRef arr = be_entry_alloca(c, LLVMArrayType(c->ptr, (unsigned)(n > 0 ? n : 1)), name);
  for (int q = 0; q < n; q++) {
    LLVMValueRef idx = be_i64(c, q);
    LLVMBuildStore(c->b, vals[q], LLVMBuildInBoundsGEP2(c->b, c->ptr, arr, &idx, 1, ""));
  }
  return arr;
}

/* The epilogue's inputs of C's shape that other kernels computed (W and the optimiser's state
 * in a fused update), as buffer parameter indices: rows of them 4 KiB apart come from memory
 * unless fetched ahead (emit_tile_row). */
static void far_inputs(be_mm_geom *g) {
  const be_plan *p = g->k->plan;
  const be_group *grp = &p->groups[g->k->group];
  g->nfar = 0;
  for (int i = 0; i < grp->nnodes; i++) {
    const ir_node *m = grp->nodes[i];
    if (m == grp->sink || m->op == IR_OP_TRANSPOSE) continue; /* the product's, not the epilogue's */
    for (int a = 0; a < m->nargs; a++) {
      const ir_node *x = m->args[a];
      if (p->group_of[x->id] == g->k->group || !ir_shape_equal(&x->type, &grp->sink->type) || !g->k->buf[x->id])
        continue;
      for (int q = 0; q < g->nbufs && g->nfar < BE_MM_MAX_FAR; q++) {
        if (LLVMGetParam(g->kfn, (unsigned)q) != g->k->buf[x->id]) continue;
        bool seen = false;
        for (int f = 0; f < g->nfar; f++) seen |= g->far[f] == q;
        if (!seen) g->far[g->nfar++] = q;
      }
    }
  }
}

/* The kernel's context for helpers: its function, its buffer parameters, its epilogue. */
static void kernel_context(be_kernel *k, be_mm_geom *g) {
  be_ctx *c = k->c;
  const be_group *grp = &k->plan->groups[k->group];
  g->c = c;
  g->k = k;
  g->kfn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
  size_t len;
  g->name = LLVMGetValueName2(g->kfn, &len);
  g->nbufs = (int)LLVMCountParams(g->kfn) - (k->panel ? 1 : 0);
  g->epilogue = false;
  for (int i = 0; i < grp->nnodes; i++)
    if (grp->nodes[i] != grp->sink && k->plan->materialize[grp->nodes[i]->id]) g->epilogue = true;
  far_inputs(g);
}

/* The blocked kernel, or false (nothing emitted) when the plain loop nest must do. */
static bool emit_blocked(be_kernel *k, be_mm_geom *g) {
  be_ctx *c = k->c;
  const ir_node *mm = k->plan->groups[k->group].sink, *asrc, *bsrc;
  if (!geometry_of(k->plan, k->group, be_mm_isa_of(c->features), g, &asrc, &bsrc)) return false;
  kernel_context(k, g);
  g->edge_overlaps = edge_overlaps(g, asrc, bsrc);
  be_mark_glue(c, g->kfn); /* it starts the tasks; the parts and micro-kernels compute */
  LLVMValueRef a = k->buf[asrc->id], b = k->buf[bsrc->id];
  IR_ASSERT(a && b && (task_panel_floats(g) == 0 || k->panel));
  LLVMBasicBlockRef body = LLVMGetInsertBlock(c->b);
  int64_t last_m = g->M - (g->tm - 1) * g->cm, last_n = g->N - (g->tn - 1) * g->cn;
  LLVMValueRef parts[2][2] = {{NULL, NULL}, {NULL, NULL}};
  for (int lm = 0; lm < 2; lm++)
    for (int ln = 0; ln < 2; ln++) {
      if ((lm == 0 && g->tm == 1) || (ln == 0 && g->tn == 1)) continue;
      parts[lm][ln] = emit_part(g, lm ? last_m : g->cm, ln ? last_n : g->cn);
    }
  LLVMPositionBuilderAtEnd(c->b, body);
  LLVMValueRef params[g->nbufs + 1];
  for (int q = 0; q < g->nbufs; q++) params[q] = LLVMGetParam(g->kfn, (unsigned)q);
  LLVMValueRef bufs = g->epilogue ? ptr_array(c, params, g->nbufs, "mm.bufs") : LLVMConstNull(c->ptr);
  LLVMValueRef panels = k->panel ? k->panel : LLVMConstNull(c->ptr);
  LLVMValueRef cbuf = g->staged ? LLVMConstNull(c->ptr) : k->buf[mm->id];
  if (g->tm * g->tn == 1) {
    LLVMValueRef args[7] = {a, b, cbuf, panels, bufs, be_i64(c, 0), be_i64(c, 0)};
    be_mm_call(c, parts[1][1], args, 7);
    return true;
  }
  LLVMValueRef task = emit_task(g, parts);
  LLVMPositionBuilderAtEnd(c->b, body);
  LLVMValueRef vals[5] = {a, b, cbuf, panels, bufs};
  LLVMValueRef ctx = ptr_array(c, vals, 5, "mm.ctx");
  LLVMTypeRef pt[3] = {c->i64, c->ptr, c->ptr};
  LLVMValueRef pf = declare(c, "rt_parallel_for", c->void_t, pt, 3);
  LLVMValueRef args[3] = {be_i64(c, g->tm * g->tn), task, ctx};
  LLVMBuildCall2(c->b, LLVMGlobalGetValueType(pf), pf, args, 3, "");
  return true;
}

void be_emit_matmul(be_kernel *k) {
  const ir_node *mm = k->plan->groups[k->group].sink;
  if (ir_type_numel(&mm->type) == 0) return;
  be_mm_geom g;
  if (emit_blocked(k, &g)) return;
  be_mm_emit_naive(k);
  /* The plain loop nest leaves the whole product in C; its epilogue then runs once over it. */
  memset(&g, 0, sizeof g);
  kernel_context(k, &g);
  if (!g.epilogue) return;
  if (mm->type.rank != 2) {
    k->error = true;
    snprintf(k->errmsg, sizeof k->errmsg, "a matmul with an epilogue must have a 2-D product (%%%d)", mm->id);
    return;
  }
  LLVMValueRef args[g.nbufs + 3];
  for (int q = 0; q < g.nbufs; q++) args[q] = LLVMGetParam(g.kfn, (unsigned)q);
  args[g.nbufs] = args[g.nbufs + 1] = be_i64(k->c, 0);
  args[g.nbufs + 2] = be_i64(k->c, mm->type.dims[0]);
  be_mm_call(k->c, be_mm_epilogue_fn(&g, mm->type.dims[1]), args, g.nbufs + 3);
}

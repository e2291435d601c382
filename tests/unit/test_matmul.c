/* The matmul kernel against the reference interpreter: odd, prime and tiny shapes, the four
 * layouts (A·B, Aᵀ·B, A·Bᵀ, Aᵀ·Bᵀ, the transposes read in place after the fuse pass), shapes
 * that cross the K blocking, the column-task split and the row-task split; the host's vector
 * width and the narrower AVX2 and SSE code; epilogues fused into the matmul's kernel (bias,
 * relu, its mask, with and without the product stored too) and an SGD update as the
 * epilogue, in place; and the thread pool: one thread and two give bit-identical results. */
#include <stdatomic.h>
#include <stdio.h>

#include "rt_threads.h"
#include "test_backend_util.h"

typedef struct {
  int64_t m, k, n;
} mm_shape;

static const mm_shape shapes[] = {
    {1, 1, 1},     {7, 13, 5},   {2, 3, 1},     {13, 17, 31},  {16, 16, 16},  {12, 64, 32},
    {25, 31, 17},  {64, 64, 10}, {257, 129, 65}, {33, 1100, 70}, {100, 1500, 50}, {31, 64, 1030},
    {200, 300, 96}, {97, 53, 600},
};

enum { LAYOUT_TA = 1, LAYOUT_TB = 2 };

/* `%name = matmul op(A), op(B)` of arguments %a and %b, op a transpose where the layout says. */
static void print_product(FILE *f, mm_shape s, int layout, const char *name) {
  long long m = s.m, k = s.k, n = s.n;
  const char *a = "%a", *b = "%b";
  if (layout & LAYOUT_TA) fprintf(f, "  %%ta = transpose %%a perm=[1,0] : f32[%lld,%lld]\n", m, k), a = "%ta";
  if (layout & LAYOUT_TB) fprintf(f, "  %%tb = transpose %%b perm=[1,0] : f32[%lld,%lld]\n", k, n), b = "%tb";
  fprintf(f, "  %s = matmul %s, %s : f32[%lld,%lld]\n", name, a, b, m, n);
}

/* @forward computing op(A)·op(B) with op a transpose where the layout says. */
static char *module_text(mm_shape s, int layout) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  bool ta = layout & LAYOUT_TA, tb = layout & LAYOUT_TB;
  fprintf(f, "func @forward(%%a: f32[%lld,%lld] input, %%b: f32[%lld,%lld] input) {\n",
          (long long)(ta ? s.k : s.m), (long long)(ta ? s.m : s.k), (long long)(tb ? s.n : s.k),
          (long long)(tb ? s.k : s.n));
  print_product(f, s, layout, "%c");
  fprintf(f, "  output prediction = %%c\n}\n");
  fclose(f);
  return text;
}

typedef struct {
  const char *cpu, *features; /* NULL: the host */
  const char *name;
} isa_case;

static const isa_case host = {NULL, NULL, "host"};
static const isa_case avx2 = {"haswell", "+avx,+avx2,+fma,+sse4.2", "avx2"};
static const isa_case sse = {"x86-64", "+sse2", "sse"};

/* Runs op(A)·op(B) compiled for `isa` on `threads` threads; returns C (caller frees) and
 * checks it against the interpreter. */
static float *run_case(mm_shape s, int layout, const isa_case *isa, int threads) {
  char *text = module_text(s, layout);
  ir_module *m = tb_parse(text);
  tb_passes(m, "fuse");
  be_options o = be_options_default();
  o.target_cpu = isa->cpu;
  o.target_features = isa->features;
  const dlc_model_desc *d;
  be_jit *j = NULL;
  ir_error err = {0};
  cr_assert(be_jit_compile(m, &o, &j, &d, &err), "%s: %s", text, err.msg);
  ir_interp *in = ir_interp_create(ir_module_find_func(m, "forward"));
  uint64_t seed = (uint64_t)(s.m * 1000003 + s.k * 1009 + s.n + layout);
  float *buf[2];
  const double *ref[2];
  for (int i = 0; i < 2; i++) {
    const dlc_tensor_desc *t = &d->inputs[i];
    int64_t n = t->shape[0] * t->shape[1];
    buf[i] = tb_alloc((size_t)n * sizeof(float));
    double *r = ir_interp_arg(in, t->name);
    for (int64_t e = 0; e < n; e++) r[e] = buf[i][e] = (float)tb_rand(&seed, -1, 1);
    ref[i] = r;
  }
  cr_assert(rt_threads_set(threads) == 0);
  tb_model tm;
  tb_model_init(&tm, d);
  const void *inputs[2] = {buf[0], buf[1]};
  tb_call(&tm, d->forward, inputs);
  rt_threads_set(1);
  cr_assert(ir_interp_run(in, &err), "interp: %s", err.msg);
  ir_type rt;
  const double *want = ir_interp_output(in, "prediction", &rt);
  const float *got = tm.pred;
  /* Bound: a few ulps of float per term of the dot product. */
  bool ta = layout & LAYOUT_TA, tb = layout & LAYOUT_TB;
  int bad = 0;
  for (int64_t i = 0; i < s.m; i++)
    for (int64_t jj = 0; jj < s.n; jj++) {
      double mag = 0;
      for (int64_t p = 0; p < s.k; p++) {
        double x = ta ? ref[0][p * s.m + i] : ref[0][i * s.k + p];
        double y = tb ? ref[1][jj * s.k + p] : ref[1][p * s.n + jj];
        mag += fabs(x * y);
      }
      double w = want[i * s.n + jj], g = got[i * s.n + jj];
      if (fabs(g - w) > 4e-7 * mag * (1 + (double)s.k / 64) + 1e-30 && bad++ < 5)
        cr_expect(false, "%lldx%lldx%lld layout %d %s threads %d: C[%lld,%lld] = %.9g, want %.9g",
                  (long long)s.m, (long long)s.k, (long long)s.n, layout, isa->name, threads, (long long)i,
                  (long long)jj, g, w);
    }
  cr_expect_eq(bad, 0, "%d wrong elements", bad);
  float *out = malloc((size_t)(s.m * s.n) * sizeof(float));
  memcpy(out, got, (size_t)(s.m * s.n) * sizeof(float));
  for (int i = 0; i < 2; i++) free(buf[i]);
  tb_model_free(&tm);
  ir_interp_destroy(in);
  be_jit_destroy(j);
  ir_module_destroy(m);
  free(text);
  return out;
}

static const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);

Test(matmul, every_shape_and_layout_host) {
  for (int i = 0; i < nshapes; i++)
    for (int layout = 0; layout < 4; layout++) free(run_case(shapes[i], layout, &host, 1));
}

Test(matmul, avx2_and_sse_code) {
  for (int i = 0; i < nshapes; i += 2)
    for (int layout = 0; layout < 4; layout += 3) {
      free(run_case(shapes[i], layout, &avx2, 1));
      free(run_case(shapes[i], layout, &sse, 1));
    }
}

/* B read transposed is packed in vl x vl blocks transposed in registers: K (the rows of each
 * block) and N (its columns) a multiple of 8 but not 16, of 4 but not 8, odd, below a vector,
 * and K split into blocks of 252 and 248 (500), for every vector width. */
Test(matmul, transposed_b_packing) {
  static const mm_shape s[] = {{9, 13, 5}, {20, 40, 23}, {17, 100, 40}, {5, 264, 70}, {6, 500, 37}};
  static const isa_case *isas[] = {&host, &avx2, &sse};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
    for (int layout = LAYOUT_TB; layout <= (LAYOUT_TA | LAYOUT_TB); layout += LAYOUT_TA)
      for (int a = 0; a < 3; a++) free(run_case(s[i], layout, isas[a], 1));
}

/* One thread and two give the same bits for this product (each checked against the
 * interpreter by run_case). */
static void expect_threads_agree(mm_shape s, int layout) {
  float *one = run_case(s, layout, &host, 1);
  float *two = run_case(s, layout, &host, 2);
  cr_expect(memcmp(one, two, (size_t)(s.m * s.n) * sizeof(float)) == 0,
            "%lldx%lldx%lld layout %d: two threads differ from one", (long long)s.m, (long long)s.k,
            (long long)s.n, layout);
  free(one);
  free(two);
}

/* Two threads give the same bits as one: tasks split C, never a dot product. */
Test(matmul, threads_are_bit_identical) {
  static const mm_shape big[] = {{200, 300, 96}, {97, 53, 600}, {31, 64, 1030}, {130, 260, 520}};
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
    for (int layout = 0; layout < 4; layout++) expect_threads_agree(big[i], layout);
}

/* Whether the host's code for the module `text` has a micro-kernel of `rows` rows. */
static bool text_has_microkernel_rows(const char *text, int rows) {
  char *llvm = NULL;
  size_t len = 0;
  ir_module *m = tb_parse(text);
  tb_passes(m, "fuse");
  be_options o = be_options_default();
  o.emit_llvm = open_memstream(&llvm, &len);
  const dlc_model_desc *d;
  be_jit *j = NULL;
  ir_error err = {0};
  cr_assert(be_jit_compile(m, &o, &j, &d, &err), "%s: %s", text, err.msg);
  fclose(o.emit_llvm);
  char name[32];
  snprintf(name, sizeof name, ".r%d.n", rows);
  bool found = false;
  for (const char *p = llvm; (p = strstr(p, "@dlc.mk.v")) && !found; p++) {
    const char *end = strchr(p, '(');
    const char *r = strstr(p, name);
    found = r && end && r < end;
  }
  be_jit_destroy(j);
  ir_module_destroy(m);
  free(llvm);
  return found;
}

/* The same for op(A)·op(B) alone. */
static bool has_microkernel_rows(mm_shape s, int layout, int rows) {
  char *text = module_text(s, layout);
  bool found = text_has_microkernel_rows(text, rows);
  free(text);
  return found;
}

/* With K in one block, a part's last rows (here 1 and 4 of six-row tiles) are a full row of
 * tiles overlapping the one before: no micro-kernel of their own, the same results, and the
 * same bits on one thread and two. K in several blocks keeps the edge kernel. */
Test(matmul, edge_rows_overlap) {
  static const mm_shape s[] = {{61, 100, 64}, {196, 256, 96}, {61, 800, 64}}; /* the last: K x 64 fits L2 */
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
    for (int layout = 0; layout < 4; layout++) {
      expect_threads_agree(s[i], layout);
      cr_expect(!has_microkernel_rows(s[i], layout, (int)(s[i].m % 6)), "%lldx%lldx%lld layout %d: an edge kernel",
                (long long)s[i].m, (long long)s[i].k, (long long)s[i].n, layout);
    }
  mm_shape blocks = {61, 1100, 64}; /* kc x 64 over 256 KiB: K in blocks */
  cr_expect(has_microkernel_rows(blocks, 0, 1), "K in blocks: the edge rows need their own kernel");
}

/* C narrower than a vector through Aᵀ (the weight gradient of a layer with few outputs):
 * the kernel with its lanes along C's rows, full row vectors, a masked tail (70, 100) and
 * K = 1; and the shapes around it that keep the ordinary kernel (N = 1, 15 x 100, A row-major). */
Test(matmul, narrow_product) {
  static const int64_t ns[] = {1, 3, 10, 15}, ms[] = {16, 64, 70, 100}, ks[] = {1, 7, 256};
  /* the narrow kernel reads A transposed; A.B with a narrow C is covered by the shapes above */
  static const int layouts[] = {LAYOUT_TA, LAYOUT_TA | LAYOUT_TB};
  for (int a = 0; a < 4; a++)
    for (int b = 0; b < 4; b++)
      for (int q = 0; q < 3; q++)
        for (int l = 0; l < 2; l++) {
          mm_shape s = {ms[b], ks[q], ns[a]};
          free(run_case(s, layouts[l], &host, 1));
          if (q == 2 && l == 0) {
            free(run_case(s, layouts[l], &avx2, 1));
            free(run_case(s, layouts[l], &sse, 1));
          }
        }
}

/* A narrow product big enough to be split into tasks: the same bits on one and two threads. */
Test(matmul, narrow_threads_are_bit_identical) {
  static const mm_shape big[] = {{1000, 600, 10}, {256, 2000, 3}, {70, 3000, 15}};
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
    for (int layout = LAYOUT_TA; layout <= (LAYOUT_TA | LAYOUT_TB); layout += LAYOUT_TB)
      expect_threads_agree(big[i], layout);
}

/* The pool runs every task exactly once, for any task count, and nested jobs run inline. */
static void count_task(void *ctx, int64_t i) { __atomic_fetch_add(&((int *)ctx)[i], 1, __ATOMIC_RELAXED); }

static void nested_task(void *ctx, int64_t i) {
  int *counts = ctx;
  rt_parallel_for(3, count_task, counts + 8 + 3 * i);
}

/* A task's slot: below the task count, and one thread keeps its slot for the whole job, so
 * two tasks running at once (on different threads) never share a slot's scratch. */
typedef struct {
  int64_t ntasks;
  int slot_of[64];
  _Atomic int busy[64]; /* tasks inside a slot right now */
  _Atomic int overlaps, out_of_range;
} slot_check;

static void slot_task(void *ctx, int64_t i) {
  slot_check *x = ctx;
  int s = rt_task_slot();
  x->slot_of[i] = s;
  if (s < 0 || s >= x->ntasks) {
    x->out_of_range++;
    return;
  }
  if (x->busy[s]++ != 0) x->overlaps++;
  for (volatile int spin = 0; spin < 20000; spin++) {
  }
  x->busy[s]--;
}

Test(matmul, pool_slots_are_distinct_and_in_range) {
  for (int threads = 1; threads <= 3; threads++) {
    cr_assert(rt_threads_set(threads) == 0);
    for (int64_t n = 1; n < 40; n += 7) {
      slot_check x = {.ntasks = n};
      rt_parallel_for(n, slot_task, &x);
      cr_expect_eq(x.out_of_range, 0, "%d threads, %lld tasks: a slot out of range", threads, (long long)n);
      cr_expect_eq(x.overlaps, 0, "%d threads, %lld tasks: two tasks in one slot at once", threads, (long long)n);
      for (int64_t i = 0; threads == 1 && i < n; i++) cr_expect_eq(x.slot_of[i], 0);
    }
  }
  cr_assert(rt_threads_set(1) == 0);
  cr_expect_eq(rt_task_slot(), 0, "outside a job");
}

Test(matmul, pool_runs_each_task_once) {
  cr_assert(rt_threads_set(3) == 0);
  cr_assert_eq(rt_threads_get(), 3);
  for (int n = 0; n < 40; n++) {
    int counts[64] = {0};
    rt_parallel_for(n, count_task, counts);
    for (int i = 0; i < 64; i++) cr_expect_eq(counts[i], i < n ? 1 : 0, "n=%d task %d", n, i);
  }
  int counts[64] = {0};
  rt_parallel_for(4, nested_task, counts);
  for (int i = 8; i < 8 + 12; i++) cr_expect_eq(counts[i], 1);
  cr_assert(rt_threads_set(1) == 0);
  cr_assert_eq(rt_threads_get(), 1);
}

/* ---- epilogues ------------------------------------------------------------------------- */

/* `text` parsed and fused; its function `name`, whose matmuls must have joined the kernel of
 * the node three after them (their epilogue). */
static ir_module *fused(const char *text, const char *name, const ir_func **f) {
  ir_module *m = tb_parse(text);
  tb_passes(m, "fuse");
  *f = ir_module_find_func(m, name);
  for (int i = 0; i < (*f)->nbody; i++)
    if ((*f)->body[i]->op == IR_OP_MATMUL)
      cr_assert((*f)->body[i]->kernel > 0 && (*f)->body[i]->kernel == (*f)->body[i + 3]->kernel, "%s: no epilogue",
                text);
  return m;
}

/* The first n inputs of d, random in [-1, 1): into buf[i] (caller frees) and the same values
 * into the interpreter's arguments. */
static void random_inputs(ir_interp *in, const dlc_model_desc *d, int n, uint64_t seed, float **buf) {
  for (int i = 0; i < n; i++) {
    const dlc_tensor_desc *t = &d->inputs[i];
    int64_t len = t->rank == 2 ? t->shape[0] * t->shape[1] : t->shape[0];
    buf[i] = tb_alloc((size_t)len * sizeof(float));
    double *r = ir_interp_arg(in, t->name);
    for (int64_t e = 0; e < len; e++) r[e] = buf[i][e] = (float)tb_rand(&seed, -1, 1);
  }
}

/* @gradients storing, from one kernel: h = relu(op(A)·op(B) + bias) as grad.h, its mask
 * (1 where the pre-activation is positive) as grad.m, and with `product` the product itself
 * as grad.c (then it has a buffer of its own; else it lives in h's). */
static char *epilogue_text(mm_shape s, int layout, bool product) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  bool ta = layout & LAYOUT_TA, tb = layout & LAYOUT_TB;
  long long m = s.m, k = s.k, n = s.n;
  fprintf(f, "func @gradients(%%a: f32[%lld,%lld] input, %%b: f32[%lld,%lld] input, %%bias: f32[%lld] input, "
             "%%h: f32[%lld,%lld] param, %%m: f32[%lld,%lld] param, %%c: f32[%lld,%lld] param) {\n",
          ta ? k : m, ta ? m : k, tb ? n : k, tb ? k : n, n, m, n, m, n, m, n);
  print_product(f, s, layout, "%0");
  fprintf(f, "  %%1 = broadcast %%bias : f32[%lld,%lld]\n  %%2 = add %%0, %%1 : f32[%lld,%lld]\n", m, n, m, n);
  fprintf(f, "  %%3 = relu %%2 : f32[%lld,%lld]\n  %%4 = const 0 : f32[%lld,%lld]\n", m, n, m, n);
  fprintf(f, "  %%5 = gt %%2, %%4 : bool[%lld,%lld]\n  %%6 = const 1 : f32[%lld,%lld]\n", m, n, m, n);
  fprintf(f, "  %%7 = select %%5, %%6, %%4 : f32[%lld,%lld]\n", m, n);
  fprintf(f, "  output grad.h = %%3\n  output grad.m = %%7\n%s}\n", product ? "  output grad.c = %0\n" : "");
  fclose(f);
  return text;
}

/* Runs the epilogue module on `threads` threads, checks h, the mask (and the product) against
 * the interpreter, and returns them (h, mask, product: 3·m·n floats; caller frees). */
static float *run_epilogue(mm_shape s, int layout, bool product, int threads) {
  char *text = epilogue_text(s, layout, product);
  const ir_func *f;
  ir_module *m = fused(text, "gradients", &f);
  const dlc_model_desc *d;
  be_jit *j = tb_jit(m, &d);
  ir_interp *in = ir_interp_create(f);
  float *buf[3];
  random_inputs(in, d, 3, (uint64_t)(s.m * 7919 + s.k * 31 + s.n + layout), buf);
  tb_model tm;
  tb_model_init(&tm, d);
  for (int i = 0; i < d->nparams; i++) {
    double *r = ir_interp_arg(in, d->params[i].name);
    for (int64_t e = 0; e < s.m * s.n; e++) r[e] = 0;
  }
  memset(tm.grads, 0xff, d->param_bytes); /* NaN: every element must be written */
  cr_assert(rt_threads_set(threads) == 0);
  const void *inputs[3] = {buf[0], buf[1], buf[2]};
  tb_call(&tm, d->gradients, inputs);
  rt_threads_set(1);
  ir_error err = {0};
  cr_assert(ir_interp_run(in, &err), "interp: %s", err.msg);
  int64_t mn = s.m * s.n;
  float *out = calloc((size_t)(3 * mn), sizeof(float));
  static const char *const names[] = {"h", "m", "c"};
  for (int o = 0; o < (product ? 3 : 2); o++) {
    char gname[16];
    snprintf(gname, sizeof gname, "grad.%s", names[o]);
    const double *want = ir_interp_output(in, gname, NULL);
    const float *got = tb_grad(&tm, names[o]);
    int bad = 0;
    for (int64_t e = 0; e < mn; e++) {
      /* The pre-activation within rounding of 0 may land on either side in float. */
      double tol = 1e-5 * (1 + (double)s.k / 64);
      bool ok = fabs(got[e] - want[e]) <= tol || (o == 1 && fabs(ir_interp_output(in, "grad.h", NULL)[e]) <= tol);
      if (!ok && bad++ < 5)
        cr_expect(false, "%lldx%lldx%lld layout %d %s threads %d: %s[%lld] = %.9g, want %.9g", (long long)s.m,
                  (long long)s.k, (long long)s.n, layout, product ? "+product" : "", threads, gname, (long long)e,
                  got[e], want[e]);
    }
    cr_expect_eq(bad, 0, "%d wrong elements", bad);
    memcpy(out + o * mn, got, (size_t)mn * sizeof(float));
  }
  for (int i = 0; i < 3; i++) free(buf[i]);
  tb_model_free(&tm);
  ir_interp_destroy(in);
  be_jit_destroy(j);
  ir_module_destroy(m);
  free(text);
  return out;
}

Test(matmul, epilogue_every_shape_and_layout) {
  for (int i = 0; i < nshapes; i++)
    for (int layout = 0; layout < 4; layout++) free(run_epilogue(shapes[i], layout, i % 2 == 1, 1));
}

/* K across several blocks (partial sums in h's buffer), tasks split by rows and columns. */
Test(matmul, epilogue_large_and_threads_bit_identical) {
  static const mm_shape big[] = {{200, 1100, 96}, {97, 1031, 600}, {130, 260, 520}};
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
    for (int layout = 0; layout < 4; layout += 1 + (int)i) {
      bool product = (i + (size_t)layout) % 2 == 0;
      float *one = run_epilogue(big[i], layout, product, 1);
      float *two = run_epilogue(big[i], layout, product, 2);
      cr_expect(memcmp(one, two, (size_t)(3 * big[i].m * big[i].n) * sizeof(float)) == 0,
                "%lldx%lldx%lld layout %d: two threads differ from one", (long long)big[i].m,
                (long long)big[i].k, (long long)big[i].n, layout);
      free(one);
      free(two);
    }
}

/* An epilogue that reads nothing it stores (bias, ReLU, mask) runs again on the overlapped
 * rows: no edge kernel, the same results, the product in h's buffer or its own. */
Test(matmul, edge_rows_overlap_epilogue) {
  mm_shape s = {61, 100, 64};
  for (int layout = 0; layout < 4; layout++)
    for (int product = 0; product < 2; product++) {
      float *one = run_epilogue(s, layout, product, 1), *two = run_epilogue(s, layout, product, 2);
      cr_expect(memcmp(one, two, (size_t)(3 * s.m * s.n) * sizeof(float)) == 0, "layout %d: threads differ", layout);
      free(one);
      free(two);
      char *text = epilogue_text(s, layout, product);
      cr_expect(!text_has_microkernel_rows(text, 1), "layout %d product %d: an edge kernel", layout, product);
      free(text);
    }
}

/* ---- an update as the epilogue --------------------------------------------------------- */

/* @train_step with w -= 0.1 · op(A)·op(B) in the matmul's kernel, w updated in place; with
 * `product` the loss also reads the product (then it is stored outside the update too). */
static char *update_text(mm_shape s, int layout, bool product) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  bool ta = layout & LAYOUT_TA, tb = layout & LAYOUT_TB;
  long long m = s.m, k = s.k, n = s.n;
  fprintf(f, "func @train_step(%%a: f32[%lld,%lld] input, %%b: f32[%lld,%lld] input, %%w: f32[%lld,%lld] param) {\n",
          ta ? k : m, ta ? m : k, tb ? n : k, tb ? k : n, m, n);
  print_product(f, s, layout, "%0");
  fprintf(f, "  %%1 = const 0.1 : f32[%lld,%lld]\n  %%2 = mul %%0, %%1 : f32[%lld,%lld]\n", m, n, m, n);
  fprintf(f, "  %%3 = sub %%w, %%2 : f32[%lld,%lld]\n", m, n);
  fprintf(f, "  %%4 = reduce_sum %s axes=[0,1] : f32[]\n  output loss = %%4\n  update %%w = %%3\n}\n",
          product ? "%0" : "%a");
  fclose(f);
  return text;
}

/* Whether the memplan report lists a scratch buffer for value `name` ("%0"). */
static bool has_buffer(const ir_module *m, const char *name) {
  size_t len = strlen(name);
  for (int i = 0;; i++) {
    char key[64];
    snprintf(key, sizeof key, "memplan.train_step.b%02d", i);
    const char *line = ir_module_get_meta(m, key);
    if (!line) return false;
    if (strncmp(line, name, len) == 0 && line[len] == ' ') return true;
  }
}

/* Runs the update module on `threads` threads, checks w and the loss against the interpreter
 * and that the plan wrote w in place (and, with `staged`, gave the product no buffer of its
 * own); returns the new w (m·n floats; caller frees). */
static float *run_update(mm_shape s, int layout, bool product, bool staged, int threads) {
  char *text = update_text(s, layout, product);
  const ir_func *f;
  ir_module *m = fused(text, "train_step", &f);
  ir_error err = {0};
  cr_assert(be_memplan_annotate(m, &err), "memplan: %s", err.msg);
  const char *report = ir_module_get_meta(m, "memplan.train_step");
  cr_expect(report && strstr(report, "1 updates in place, 0 copies"), "%s: %s", text, report);
  if (staged) cr_expect(!has_buffer(m, "%0"), "%s: the product has a buffer: %s", text, report);
  const dlc_model_desc *d;
  be_jit *j = tb_jit(m, &d);
  ir_interp *in = ir_interp_create(f);
  uint64_t seed = (uint64_t)(s.m * 131 + s.k * 7 + s.n + layout);
  float *buf[2];
  random_inputs(in, d, 2, seed, buf);
  seed += 1; /* w's values differ from the inputs' */
  tb_model tm;
  tb_model_init(&tm, d);
  int64_t mn = s.m * s.n;
  float *w = tb_param(&tm, "w");
  double *wr = ir_interp_arg(in, "w");
  for (int64_t e = 0; e < mn; e++) wr[e] = w[e] = (float)tb_rand(&seed, -1, 1);
  cr_assert(rt_threads_set(threads) == 0);
  const void *inputs[2] = {buf[0], buf[1]};
  float loss = tb_call(&tm, d->train_step, inputs);
  rt_threads_set(1);
  cr_assert(ir_interp_run(in, &err), "interp: %s", err.msg);
  double want_loss = ir_interp_output(in, "loss", NULL)[0];
  cr_expect(tb_close(loss, want_loss, 1e-4, 1e-3), "%s: loss %g, want %g", text, loss, want_loss);
  const double *want = ir_interp_update(in, "w", NULL);
  int bad = 0;
  for (int64_t e = 0; e < mn; e++)
    if (fabs(w[e] - want[e]) > 1e-6 * (1 + (double)s.k / 64) && bad++ < 5)
      cr_expect(false, "%lldx%lldx%lld layout %d threads %d: w[%lld] = %.9g, want %.9g", (long long)s.m,
                (long long)s.k, (long long)s.n, layout, threads, (long long)e, w[e], want[e]);
  cr_expect_eq(bad, 0, "%d wrong elements", bad);
  float *out = malloc((size_t)mn * sizeof(float));
  memcpy(out, w, (size_t)mn * sizeof(float));
  for (int i = 0; i < 2; i++) free(buf[i]);
  tb_model_free(&tm);
  ir_interp_destroy(in);
  be_jit_destroy(j);
  ir_module_destroy(m);
  free(text);
  return out;
}

/* run_update on one and two threads: both right, and bit-identical. */
static void check_update(mm_shape s, int layout, bool product, bool staged) {
  float *one = run_update(s, layout, product, staged, 1);
  float *two = run_update(s, layout, product, staged, 2);
  cr_expect(memcmp(one, two, (size_t)(s.m * s.n) * sizeof(float)) == 0,
            "%lldx%lldx%lld layout %d: two threads differ from one", (long long)s.m, (long long)s.k, (long long)s.n,
            layout);
  free(one);
  free(two);
}

/* Small and odd shapes, K across several blocks, tasks split by rows (Aᵀ packed) and columns:
 * the product's partial sums never land in w, which the epilogue still reads. */
Test(matmul, update_epilogue_in_place) {
  static const mm_shape cases[] = {{7, 13, 5}, {64, 64, 10}, {33, 1100, 70}, {200, 1100, 96}, {130, 260, 520}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int layout = 0; layout < 4; layout++) {
      bool product = (i + (size_t)layout) % 2 == 1;
      check_update(cases[i], layout, product, false);
    }
}

/* K in one block, C at least a vector wide in every task: the product only the update reads
 * lives a row of tiles at a time in the panels, for every layout, with row and column tails. */
Test(matmul, update_epilogue_staged) {
  static const mm_shape cases[] = {{150, 256, 96}, {61, 300, 48}, {256, 256, 256}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int layout = 0; layout < 4; layout++) check_update(cases[i], layout, false, true);
}

/* The matmul kernel against the reference interpreter: odd, prime and tiny shapes, the four
 * layouts (A·B, Aᵀ·B, A·Bᵀ, Aᵀ·Bᵀ, the transposes read in place after the fuse pass), shapes
 * that cross the K blocking, the column-task split and the row-task split; the host's vector
 * width and the narrower AVX2 and SSE code; and the thread pool: one thread and two give
 * bit-identical results. */
#include <stdio.h>

#include "rt_threads.h"
#include "test_backend_util.h"

typedef struct {
  int64_t m, k, n;
} mm_shape;

static const mm_shape shapes[] = {
    {1, 1, 1},     {7, 13, 5},   {2, 3, 1},     {13, 17, 31},  {16, 16, 16},  {12, 64, 32},
    {25, 31, 17},  {64, 64, 10}, {257, 129, 65}, {33, 400, 70}, {100, 777, 50}, {31, 64, 1030},
    {200, 300, 96}, {97, 53, 600},
};

enum { LAYOUT_TA = 1, LAYOUT_TB = 2 };

/* @forward computing op(A)·op(B) with op a transpose where the layout says. */
static char *module_text(mm_shape s, int layout) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  bool ta = layout & LAYOUT_TA, tb = layout & LAYOUT_TB;
  fprintf(f, "func @forward(%%a: f32[%lld,%lld] input, %%b: f32[%lld,%lld] input) {\n",
          (long long)(ta ? s.k : s.m), (long long)(ta ? s.m : s.k), (long long)(tb ? s.n : s.k),
          (long long)(tb ? s.k : s.n));
  const char *a = "%a", *b = "%b";
  if (ta) fprintf(f, "  %%ta = transpose %%a perm=[1,0] : f32[%lld,%lld]\n", (long long)s.m, (long long)s.k), a = "%ta";
  if (tb) fprintf(f, "  %%tb = transpose %%b perm=[1,0] : f32[%lld,%lld]\n", (long long)s.k, (long long)s.n), b = "%tb";
  fprintf(f, "  %%c = matmul %s, %s : f32[%lld,%lld]\n  output prediction = %%c\n}\n", a, b, (long long)s.m,
          (long long)s.n);
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

/* Two threads give the same bits as one: tasks split C, never a dot product. */
Test(matmul, threads_are_bit_identical) {
  static const mm_shape big[] = {{200, 300, 96}, {97, 53, 600}, {31, 64, 1030}, {130, 260, 520}};
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
    for (int layout = 0; layout < 4; layout++) {
      float *one = run_case(big[i], layout, &host, 1);
      float *two = run_case(big[i], layout, &host, 2);
      cr_expect(memcmp(one, two, (size_t)(big[i].m * big[i].n) * sizeof(float)) == 0,
                "%lldx%lldx%lld layout %d: two threads differ from one", (long long)big[i].m,
                (long long)big[i].k, (long long)big[i].n, layout);
      free(one);
      free(two);
    }
}

/* The pool runs every task exactly once, for any task count, and nested jobs run inline. */
static void count_task(void *ctx, int64_t i) { __atomic_fetch_add(&((int *)ctx)[i], 1, __ATOMIC_RELAXED); }

static void nested_task(void *ctx, int64_t i) {
  int *counts = ctx;
  rt_parallel_for(3, count_task, counts + 8 + 3 * i);
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

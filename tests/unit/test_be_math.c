/* The backend's own exp and log (backend/be_math.c), compiled through the JIT as the `exp`
 * and `log` ops and run over dense sweeps of inputs, against the C library evaluated in
 * double precision (and rounded once): the whole f32 range that matters, subnormal inputs
 * and results, the overflow and underflow thresholds, the infinities, zeros and NaN; the
 * same for f64 on a sparser sweep. And the facts that make them worth having: no libm call
 * is left in the optimised code, and the loops that use them are vector loops. */
#include <float.h>
#include <math.h>

#include "test_backend_util.h"

enum { N = 16384 }; /* elements per call */

/* A compiled one-op model: prediction = op(x), x of dtype f32 or f64 and N elements. */
typedef struct {
  ir_module *m;
  be_jit *j;
  const dlc_model_desc *d;
  tb_model tm;
} unary_model;

static void unary_open(unary_model *u, const char *op, const char *dtype) {
  char text[256];
  snprintf(text, sizeof text, "func @forward(%%x: %s[%d] input) {\n  %%0 = %s %%x : %s[%d]\n  output prediction = %%0\n}\n",
           dtype, N, op, dtype, N);
  u->m = tb_parse(text);
  u->j = tb_jit(u->m, &u->d);
  tb_model_init(&u->tm, u->d);
}

static void unary_close(unary_model *u) {
  tb_model_free(&u->tm);
  be_jit_destroy(u->j);
  ir_module_destroy(u->m);
}

/* Distance in units in the last place, across zero and into the subnormals; 0 for two NaNs. */
static int64_t ulps32(float a, float b) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : INT64_MAX;
  if (a == b) return 0;
  int32_t ia, ib;
  memcpy(&ia, &a, 4);
  memcpy(&ib, &b, 4);
  int64_t la = ia < 0 ? (int64_t)INT32_MIN - ia : ia, lb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
  return llabs(la - lb);
}

static int64_t ulps64(double a, double b) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : INT64_MAX;
  if (a == b) return 0;
  int64_t ia, ib;
  memcpy(&ia, &a, 8);
  memcpy(&ib, &b, 8);
  /* Same sign in every comparison made here (both results of exp or of log of the same x). */
  if ((ia < 0) != (ib < 0)) return INT64_MAX;
  return ia > ib ? ia - ib : ib - ia;
}

static float f32_of_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* Runs the f32 model over xs (n values, any n) and returns the worst ulp distance from ref,
 * reporting the worst input. */
static int64_t sweep32(unary_model *u, double (*ref)(double), const float *xs, size_t n, float *worst_x) {
  static float x[N];
  int64_t worst = 0;
  for (size_t at = 0; at < n; at += N) {
    size_t len = n - at < N ? n - at : N;
    for (size_t i = 0; i < N; i++) x[i] = xs[at + (i < len ? i : 0)];
    const void *in[1] = {x};
    tb_call(&u->tm, u->d->forward, in);
    const float *y = u->tm.pred;
    for (size_t i = 0; i < len; i++) {
      int64_t e = ulps32(y[i], (float)ref((double)x[i]));
      if (e > worst) worst = e, *worst_x = x[i];
    }
  }
  return worst;
}

/* Every `step`-th float bit pattern from lo to hi (inclusive bounds as bits, same sign). */
static float *bit_sweep(uint32_t lo, uint32_t hi, uint32_t step, size_t *n) {
  size_t cap = (hi - lo) / step + 1;
  float *xs = malloc(sizeof(float) * cap);
  cr_assert_not_null(xs);
  *n = 0;
  for (uint64_t b = lo; b <= hi; b += step) xs[(*n)++] = f32_of_bits((uint32_t)b);
  return xs;
}

static uint32_t bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

Test(be_math, exp_f32_within_two_ulp_over_its_range) {
  unary_model u;
  unary_open(&u, "exp", "f32");
  /* Negative inputs down past the underflow to 0 (subnormal results on the way), then the
   * positive ones up past the overflow. */
  struct {
    float lo, hi;
  } ranges[] = {{-0.0f, -110.0f}, {0.0f, 95.0f}};
  for (size_t r = 0; r < 2; r++) {
    size_t n;
    float *xs = bit_sweep(bits_of(ranges[r].lo), bits_of(ranges[r].hi), 251, &n);
    float wx = 0;
    int64_t worst = sweep32(&u, exp, xs, n, &wx);
    cr_expect(worst <= 2, "exp: %lld ulp at x = %.9g (%zu inputs from %g to %g)", (long long)worst, wx, n,
              ranges[r].lo, ranges[r].hi);
    free(xs);
  }
  unary_close(&u);
}

Test(be_math, exp_f32_edges) {
  unary_model u;
  unary_open(&u, "exp", "f32");
  static const float xs[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1e-30f, -1e-30f, FLT_MIN,
                             88.7228f, 88.72284f, 88.72285f, 88.7229f, 89.0f, 1e10f, FLT_MAX,
                             -87.33654f, -87.3366f, -100.0f, -103.27893f, -103.97207f, -103.972084f,
                             -104.0f, -1e10f, -FLT_MAX, 0.34657359f, -0.34657359f, 0.6931472f};
  float wx = 0;
  int64_t worst = sweep32(&u, exp, xs, sizeof xs / sizeof xs[0], &wx);
  cr_expect(worst <= 2, "exp: %lld ulp at x = %.9g", (long long)worst, wx);
  static float x[N];
  memcpy(x, xs, sizeof xs);
  const void *in[1] = {x};
  tb_call(&u.tm, u.d->forward, in);
  const float *y = u.tm.pred;
  cr_expect(y[0] == 1.0f && y[1] == 1.0f, "exp(+-0) = %g, %g", y[0], y[1]);
  cr_expect(y[2] == INFINITY && y[3] == 0.0f && !signbit(y[3]), "exp(inf) = %g, exp(-inf) = %g", y[2], y[3]);
  cr_expect(isnan(y[4]) && isnan(y[5]), "exp(NaN) = %g, %g", y[4], y[5]);
  cr_expect(y[14] == INFINITY && y[15] == INFINITY, "overflow: %g, %g", y[14], y[15]);
  cr_expect(y[22] == 0.0f && y[23] == 0.0f && y[24] == 0.0f, "underflow: %g, %g, %g", y[22], y[23], y[24]);
  cr_expect(y[20] > 0.0f, "exp(-103.97207) = %g, the smallest subnormal", y[20]);
  unary_close(&u);
}

Test(be_math, log_f32_within_two_ulp_over_its_range) {
  unary_model u;
  unary_open(&u, "log", "f32");
  size_t n;
  /* Every positive float class: subnormals, normals, up to FLT_MAX. */
  float *xs = bit_sweep(1, 0x7f7fffffu, 509, &n);
  float wx = 0;
  int64_t worst = sweep32(&u, log, xs, n, &wx);
  cr_expect(worst <= 2, "log: %lld ulp at x = %.9g (%zu inputs)", (long long)worst, wx, n);
  free(xs);
  /* Densely near 1, where log is near 0 and a relative error shows most. */
  xs = bit_sweep(bits_of(0.5f), bits_of(2.0f), 7, &n);
  worst = sweep32(&u, log, xs, n, &wx);
  cr_expect(worst <= 2, "log: %lld ulp at x = %.9g near 1", (long long)worst, wx);
  free(xs);
  unary_close(&u);
}

Test(be_math, log_f32_edges) {
  unary_model u;
  unary_open(&u, "log", "f32");
  static const float xs[] = {0.0f, -0.0f, -1.0f, -INFINITY, INFINITY, NAN, 1.0f, FLT_MIN,
                             FLT_TRUE_MIN, FLT_MAX, 0.70710677f, 0.70710683f, 1.4142135f, 2.0f};
  static float x[N];
  memcpy(x, xs, sizeof xs);
  const void *in[1] = {x};
  tb_call(&u.tm, u.d->forward, in);
  const float *y = u.tm.pred;
  cr_expect(y[0] == -INFINITY && y[1] == -INFINITY, "log(+-0) = %g, %g", y[0], y[1]);
  cr_expect(isnan(y[2]) && isnan(y[3]), "log(negative) = %g, %g", y[2], y[3]);
  cr_expect(y[4] == INFINITY && isnan(y[5]), "log(inf) = %g, log(NaN) = %g", y[4], y[5]);
  cr_expect(y[6] == 0.0f, "log(1) = %g", y[6]);
  for (size_t i = 7; i < sizeof xs / sizeof xs[0]; i++)
    cr_expect(ulps32(y[i], (float)log((double)xs[i])) <= 1, "log(%.9g) = %.9g, want %.9g", xs[i], y[i],
              (double)(float)log((double)xs[i]));
  unary_close(&u);
}

/* f64 through the same code with f64 constants: a sparser sweep against the C library. */
static void check_f64(const char *op, double (*ref)(double), const double *lohi, int64_t max_ulps) {
  unary_model u;
  unary_open(&u, op, "f64");
  static double x[N];
  int64_t worst = 0;
  double wx = 0;
  uint64_t seed = 3;
  for (int call = 0; call < 16; call++) {
    for (int i = 0; i < N; i++) {
      double t = tb_rand(&seed, 0, 1);
      /* exp: uniform over [lo, hi]; log: uniform in the exponent over [lo, hi]. */
      x[i] = strcmp(op, "log") == 0 ? exp(log(lohi[0]) + t * (log(lohi[1]) - log(lohi[0])))
                                    : lohi[0] + t * (lohi[1] - lohi[0]);
    }
    const void *in[1] = {x};
    tb_call(&u.tm, u.d->forward, in);
    const double *y = u.tm.pred;
    for (int i = 0; i < N; i++) {
      int64_t e = ulps64(y[i], ref(x[i]));
      if (e > worst) worst = e, wx = x[i];
    }
  }
  cr_expect(worst <= max_ulps, "%s f64: %lld ulp at x = %.17g", op, (long long)worst, wx);
  /* Edges. */
  static const double edges[] = {0.0, INFINITY, -INFINITY, NAN, 709.7, 710.0, -745.0, -746.0, 1.0, DBL_TRUE_MIN};
  memcpy(x, edges, sizeof edges);
  const void *in[1] = {x};
  tb_call(&u.tm, u.d->forward, in);
  const double *y = u.tm.pred;
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
    double want = ref(edges[i]);
    cr_expect(ulps64(y[i], want) <= max_ulps || (y[i] == want), "%s(%.17g) = %.17g, want %.17g", op, edges[i],
              y[i], want);
  }
  unary_close(&u);
}

Test(be_math, exp_f64_within_two_ulp) {
  check_f64("exp", exp, (const double[]){-750, 712}, 2);
}

Test(be_math, log_f64_within_two_ulp) {
  check_f64("log", log, (const double[]){1e-310, 1e308}, 2);
}

/* The optimised code of a kernel that takes exp and log calls no libm function and works on
 * vectors: the reason be_math exists. */
Test(be_math, kernels_vectorise_without_libm) {
  const char *text = "func @forward(%x: f32[64,128] input) {\n"
                     "  %0 = exp %x : f32[64,128]\n"
                     "  %1 = log %0 : f32[64,128]\n"
                     "  %2 = log_softmax %1 axis=1 : f32[64,128]\n"
                     "  output prediction = %2\n"
                     "}\n";
  ir_module *m = tb_parse(text);
  tb_passes(m, "fuse");
  char *ir = tb_llvm_ir(m, true);
  cr_expect(!strstr(ir, "@expf") && !strstr(ir, "@logf") && !strstr(ir, "@llvm.exp") && !strstr(ir, "@llvm.log"),
            "a libm call is left:\n%s", ir);
  cr_expect(strstr(ir, "<8 x float>") || strstr(ir, "<16 x float>"), "no 8- or 16-wide float vectors:\n%s", ir);
  free(ir);
  ir_module_destroy(m);
}

/* The backend's shapes of many short rows (a batch of class scores): softmax and log_softmax
 * done a block of slices at a time, reductions over the batch that combine several rows per
 * visit of the result, elementwise kernels run as one flat loop, and inner loops kept from
 * full unrolling. Each against the reference interpreter on sizes that leave partial blocks,
 * axes other than the last, size-1 axes and extreme values; and the code generation fact
 * the loop hint exists for: no gather or scatter for rows of 10. */
#include <math.h>

#include "test_backend_util.h"

#define F(sig, body) "func @forward(" sig ") {\n" body "\n}\n"

/* Runs @forward of text (after fuse) on inputs from fill, against the interpreter. */
static void check(const char *name, const char *text, void (*fill)(float *x, int64_t n, uint64_t *seed)) {
  ir_module *m = tb_parse(text);
  tb_passes(m, "fuse");
  const dlc_model_desc *d;
  be_jit *j = tb_jit(m, &d);
  ir_interp *in = ir_interp_create(ir_module_find_func(m, "forward"));
  void *inputs[4];
  uint64_t seed = 11;
  for (int i = 0; i < d->ninputs; i++) {
    int64_t n = tb_bytes(&d->inputs[i]) / 4;
    float *x = tb_alloc((size_t)n * 4);
    fill(x, n, &seed);
    double *ref = ir_interp_arg(in, d->inputs[i].name);
    for (int64_t e = 0; e < n; e++) ref[e] = x[e];
    inputs[i] = x;
  }
  tb_model tm;
  tb_model_init(&tm, d);
  tb_call(&tm, d->forward, (const void *const *)inputs);
  ir_error err = {0};
  cr_assert(ir_interp_run(in, &err), "%s: interp: %s", name, err.msg);
  ir_type rt;
  const double *want = ir_interp_output(in, "prediction", &rt);
  const float *got = tm.pred;
  for (int64_t e = 0; e < ir_type_numel(&rt); e++)
    cr_expect(tb_close(got[e], want[e], 1e-5, 1e-6), "%s: element %lld: got %.9g, want %.9g", name, (long long)e,
              got[e], want[e]);
  for (int i = 0; i < d->ninputs; i++) free(inputs[i]);
  tb_model_free(&tm);
  ir_interp_destroy(in);
  be_jit_destroy(j);
  ir_module_destroy(m);
}

static void fill_uniform(float *x, int64_t n, uint64_t *seed) {
  for (int64_t e = 0; e < n; e++) x[e] = (float)tb_rand(seed, -3, 3);
}

/* Rows of every scale at once (one row's values a thousand times another's), and rows with
 * -inf entries: each row must be shifted by its own maximum. */
static void fill_wild(float *x, int64_t n, uint64_t *seed) {
  for (int64_t e = 0; e < n; e++) {
    double scale = ((e / 10) % 3 == 0) ? 1000 : ((e / 10) % 3 == 1) ? 1 : 30;
    x[e] = (float)(scale * tb_rand(seed, -1, 1));
    if (e % 37 == 5) x[e] = -INFINITY;
  }
}

Test(be_rows, softmax_blocks_axes_and_sizes) {
  static const struct {
    const char *name, *text;
  } cases[] = {
      /* 130 rows: two blocks of 64 and a partial one of 2. */
      {"log_softmax 130x10", F("%a: f32[130,10] input", "%0 = log_softmax %a axis=1 : f32[130,10]\noutput prediction = %0")},
      {"softmax 130x10", F("%a: f32[130,10] input", "%0 = softmax %a axis=1 : f32[130,10]\noutput prediction = %0")},
      /* Slices along a leading and a middle axis: strided, and not laid end to end. */
      {"log_softmax axis 0", F("%a: f32[10,70] input", "%0 = log_softmax %a axis=0 : f32[10,70]\noutput prediction = %0")},
      {"softmax axis 1 of 3", F("%a: f32[3,10,50] input", "%0 = softmax %a axis=1 : f32[3,10,50]\noutput prediction = %0")},
      /* Slices of one element, and a fused producer with a broadcast (the bias add). */
      {"softmax of 1", F("%a: f32[70,1] input", "%0 = softmax %a axis=1 : f32[70,1]\noutput prediction = %0")},
      {"log_softmax of x + b",
       F("%a: f32[67,10] input, %b: f32[10] input",
         "%0 = broadcast %b : f32[67,10]\n%1 = add %a, %0 : f32[67,10]\n%2 = log_softmax %1 axis=1 : f32[67,10]\noutput prediction = %2")},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    check(cases[i].name, cases[i].text, fill_uniform);
    check(cases[i].name, cases[i].text, fill_wild);
  }
}

/* A row that holds NaN gives NaN everywhere in it; a row of -inf only gives NaN, as the
 * interpreter says; the rows around them are untouched. */
Test(be_rows, softmax_special_rows) {
  const char *text = F("%a: f32[3,10] input", "%0 = log_softmax %a axis=1 : f32[3,10]\n%1 = softmax %a axis=1 : f32[3,10]\n"
                                              "%2 = add %0, %1 : f32[3,10]\noutput prediction = %2");
  ir_module *m = tb_parse(text);
  tb_passes(m, "fuse");
  const dlc_model_desc *d;
  be_jit *j = tb_jit(m, &d);
  float *x = tb_alloc(30 * 4);
  for (int e = 0; e < 30; e++) x[e] = (float)(e % 10);
  x[13] = NAN;
  for (int e = 20; e < 30; e++) x[e] = -INFINITY;
  tb_model tm;
  tb_model_init(&tm, d);
  const void *in[1] = {x};
  tb_call(&tm, d->forward, in);
  const float *y = tm.pred;
  /* row 0: log_softmax + softmax of 0..9 */
  double lse = 0;
  for (int e = 0; e < 10; e++) lse += exp(e - 9.0);
  for (int e = 0; e < 10; e++) {
    double want = (e - 9.0 - log(lse)) + exp(e - 9.0) / lse;
    cr_expect(fabs(y[e] - want) < 1e-5, "row 0, %d: got %g, want %g", e, y[e], want);
    cr_expect(isnan(y[10 + e]), "row with NaN, %d: got %g", e, y[10 + e]);
    cr_expect(isnan(y[20 + e]), "row of -inf, %d: got %g", e, y[20 + e]);
  }
  free(x);
  tb_model_free(&tm);
  be_jit_destroy(j);
  ir_module_destroy(m);
}

Test(be_rows, reductions_over_rows) {
  static const struct {
    const char *name, *text;
  } cases[] = {
      /* 13 rows: one visit of 8 and a rest of 5. */
      {"sum axis 0", F("%a: f32[13,10] input", "%0 = reduce_sum %a axes=[0] : f32[10]\noutput prediction = %0")},
      {"max axis 0", F("%a: f32[13,10] input", "%0 = reduce_max %a axes=[0] : f32[10]\noutput prediction = %0")},
      {"mean axes 0,1", F("%a: f32[13,5,10] input", "%0 = reduce_mean %a axes=[0,1] : f32[10]\noutput prediction = %0")},
      {"sum axis 1 of 3", F("%a: f32[4,19,10] input", "%0 = reduce_sum %a axes=[1] : f32[4,10]\noutput prediction = %0")},
      {"sum of 3 rows", F("%a: f32[3,10] input", "%0 = reduce_sum %a axes=[0] keepdims : f32[1,10]\noutput prediction = %0")},
      /* A fused, materialised member: stored for every row, in blocks and in the rest. */
      {"sum of exp, exp kept",
       F("%a: f32[21,10] input",
         "%0 = exp %a : f32[21,10]\n%1 = reduce_sum %0 axes=[0] : f32[10]\n%2 = broadcast %1 : f32[21,10]\n"
         "%3 = add %0, %2 : f32[21,10]\noutput prediction = %3")},
      /* Long bodies (an exp) go 4 rows a visit: 21 rows are 5 visits and a rest of 1, with
       * the summed value stored (above) or not, and a stored member that is not summed. */
      {"sum of exp alone", F("%a: f32[21,10] input", "%0 = exp %a : f32[21,10]\n%1 = reduce_sum %0 axes=[0] : f32[10]\noutput prediction = %1")},
      {"sum of 2 exp, exp kept",
       F("%a: f32[21,10] input",
         "%0 = exp %a : f32[21,10]\n%1 = mul %0, %0 : f32[21,10]\n%2 = reduce_sum %1 axes=[0] : f32[10]\n"
         "%3 = broadcast %2 : f32[21,10]\n%4 = add %0, %3 : f32[21,10]\noutput prediction = %4")},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check(cases[i].name, cases[i].text, fill_uniform);
}

Test(be_rows, flat_elementwise_kernels) {
  static const struct {
    const char *name, *text;
  } cases[] = {
      /* All of one shape, with a size-1 axis last and in the middle, and a non-splat constant. */
      {"update", F("%w: f32[64,10] input, %g: f32[64,10] input",
                   "%0 = const 0.1 : f32[64,10]\n%1 = mul %g, %0 : f32[64,10]\n%2 = sub %w, %1 : f32[64,10]\noutput prediction = %2")},
      {"last axis 1", F("%a: f32[7,3,1] input", "%0 = exp %a : f32[7,3,1]\n%1 = mul %0, %a : f32[7,3,1]\noutput prediction = %1")},
      {"middle axis 1", F("%a: f32[5,1,9] input", "%0 = tanh %a : f32[5,1,9]\noutput prediction = %0")},
      {"constant array", F("%a: f32[2,3] input", "%0 = const [1, 2, 3, 4, 5, 6] : f32[2,3]\n%1 = mul %a, %0 : f32[2,3]\noutput prediction = %1")},
      /* Not flat: a broadcast and an iota need the row and column. */
      {"bias add", F("%a: f32[33,10] input, %b: f32[10] input", "%0 = add %a, %b : f32[33,10]\noutput prediction = %0")},
      {"iota", F("%a: f32[6,10] input", "%0 = iota axis=1 : f32[6,10]\n%1 = add %a, %0 : f32[6,10]\noutput prediction = %1")},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check(cases[i].name, cases[i].text, fill_uniform);
}

/* Rows of 10 (a bias add, a one-hot, a row sum) become one masked vector per row after O3:
 * unrolled in full, the loop around them was widened across rows with a gather or scatter for
 * every element instead. */
Test(be_rows, short_rows_need_no_gather_or_scatter) {
  const char *text = F("%a: f32[256,10] input, %b: f32[10] input, %y: i32[256] input",
                       "%0 = add %a, %b : f32[256,10]\n%1 = one_hot %y : f32[256,10]\n%2 = mul %0, %1 : f32[256,10]\n"
                       "%3 = reduce_sum %2 axes=[1] keepdims : f32[256,1]\n%4 = sub %2, %3 : f32[256,10]\n"
                       "output prediction = %4");
  ir_module *m = tb_parse(text);
  tb_passes(m, "fuse");
  char *ir = tb_llvm_ir(m, true);
  const char *forward = strstr(ir, "@dlc_entry_forward");
  cr_assert_not_null(forward);
  cr_expect(!strstr(ir, "masked.scatter") && !strstr(ir, "masked.gather"), "a gather or scatter:\n%s", ir);
  cr_expect(strstr(ir, "<16 x float>") || strstr(ir, "<8 x float>"), "no float vectors:\n%s", ir);
  free(ir);
  ir_module_destroy(m);
}

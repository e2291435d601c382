/* Whole training steps through the JIT: hand-written and pass-produced .dlir modules,
 * every entry against the reference interpreter (loss, gradients, updated parameters and
 * optimiser state), training to the closed-form solution, bit-identical reruns, and the
 * code generation facts (vector types after O3, libm-exact exp/log/tanh). */
#include <math.h>

#include "test_backend_util.h"

#define INPUTS DLC_SOURCE_DIR "/tests/backend/Inputs/"
#define PIPELINE "shape-infer,autodiff,optimizer,simplify,fuse"

/* Fills every input and parameter of the model (and the interpreter's copies). */
static void fill_random(tb_model *tm, float **inputs, uint64_t seed, int label_hi) {
  const dlc_model_desc *d = tm->d;
  for (int i = 0; i < d->ninputs; i++) {
    size_t n = tb_bytes(&d->inputs[i]) / 4;
    inputs[i] = tb_alloc(n * 4);
    for (size_t e = 0; e < n; e++) {
      if (d->inputs[i].dtype == DLC_I32)
        ((int32_t *)inputs[i])[e] = (int32_t)floor(tb_rand(&seed, 0, label_hi));
      else
        inputs[i][e] = (float)tb_rand(&seed, -1, 1);
    }
  }
  for (int p = 0; p < d->nparams; p++) {
    float *w = (float *)((char *)tm->params + d->params[p].offset);
    for (size_t e = 0; e < tb_bytes(&d->params[p]) / 4; e++) w[e] = (float)tb_rand(&seed, -0.5, 0.5);
  }
}

static void load_interp(ir_interp *in, const ir_func *f, tb_model *tm, float **inputs, bool grads_in) {
  const dlc_model_desc *d = tm->d;
  for (int a = 0; a < f->nargs; a++) {
    const ir_node *arg = f->args[a];
    double *dst = ir_interp_arg(in, arg->name);
    int64_t n = ir_type_numel(&arg->type);
    const void *src = NULL;
    int dtype = DLC_F32;
    for (int i = 0; i < d->ninputs; i++)
      if (strcmp(d->inputs[i].name, arg->name) == 0) src = inputs[i], dtype = d->inputs[i].dtype;
    for (int i = 0; i < d->nparams; i++) {
      if (strcmp(d->params[i].name, arg->name) == 0) src = (char *)tm->params + d->params[i].offset;
      if (grads_in && strncmp(arg->name, "grad.", 5) == 0 && strcmp(d->params[i].name, arg->name + 5) == 0)
        src = (char *)tm->grads + d->params[i].offset;
    }
    for (int i = 0; i < d->nstate; i++)
      if (strcmp(d->state[i].name, arg->name) == 0) src = (char *)tm->state + d->state[i].offset;
    cr_assert_not_null(src, "no buffer for %s", arg->name);
    for (int64_t e = 0; e < n; e++)
      dst[e] = dtype == DLC_I32 ? ((const int32_t *)src)[e] : ((const float *)src)[e];
  }
}

static void expect_close(const float *got, const double *want, int64_t n, double rel, const char *what) {
  cr_assert_not_null(want, "%s: the interpreter has no value", what);
  for (int64_t i = 0; i < n; i++)
    cr_expect(tb_close(got[i], want[i], rel, 1e-6), "%s[%lld]: got %.9g, want %.9g", what, (long long)i,
              got[i], want[i]);
}

static const float *tensor_in(const tb_model *tm, const dlc_tensor_desc *t, bool state) {
  return (const float *)((const char *)(state ? tm->state : tm->params) + t->offset);
}

/* Runs train_step (and gradients, eval_loss, forward) and compares it all; integer labels
 * have the index bound `bound` (the classes a gather of them indexes; 0 for one_hot's
 * labels, whose values out of range make a zero row). */
static void check_against_interp(ir_module *m, int label_hi, int64_t bound, int steps) {
  tb_passes(m, PIPELINE);
  const dlc_model_desc *d;
  be_jit *j = tb_jit(m, &d);
  /* Only what trains reads the labels or targets (the last input). */
  for (int i = 0; i < d->ninputs; i++) {
    const dlc_tensor_desc *t = &d->inputs[i];
    bool target = i == d->ninputs - 1;
    cr_expect_eq(t->index_bound, t->dtype == DLC_I32 ? bound : 0, "input %s: bound %lld", t->name,
                 (long long)t->index_bound);
    unsigned want = DLC_ENTRY_TRAIN_STEP | DLC_ENTRY_EVAL_LOSS | DLC_ENTRY_GRADIENTS | (target ? 0 : DLC_ENTRY_FORWARD);
    cr_expect_eq(t->read_by, want, "input %s: read by %#x, expected %#x", t->name, t->read_by, want);
  }
  tb_model tm;
  tb_model_init(&tm, d);
  float *inputs[8];
  fill_random(&tm, inputs, 7, label_hi);
  ir_error err = {0};

  for (int s = 0; s < steps; s++) {
    /* eval_loss and forward first: they must not change anything. */
    const ir_func *fwd = ir_module_find_func(m, "forward");
    ir_interp *in = ir_interp_create(fwd);
    load_interp(in, fwd, &tm, inputs, false);
    cr_assert(ir_interp_run(in, &err), "%s", err.msg);
    float l = tb_call(&tm, d->eval_loss, (const void *const *)inputs);
    cr_expect(tb_close(l, ir_interp_output(in, "loss", NULL)[0], 1e-5, 1e-7), "eval_loss %g", l);
    tb_call(&tm, d->forward, (const void *const *)inputs);
    ir_type pt;
    const double *pred = ir_interp_output(in, "prediction", &pt);
    expect_close(tm.pred, pred, ir_type_numel(&pt), 1e-5, "prediction");
    ir_interp_destroy(in);

    /* gradients into the flat buffer */
    const ir_func *gf = ir_module_find_func(m, "gradients");
    in = ir_interp_create(gf);
    load_interp(in, gf, &tm, inputs, false);
    cr_assert(ir_interp_run(in, &err), "%s", err.msg);
    memset(tm.grads, 0xff, d->param_bytes);
    l = tb_call(&tm, d->gradients, (const void *const *)inputs);
    cr_expect(tb_close(l, ir_interp_output(in, "loss", NULL)[0], 1e-5, 1e-7), "gradients loss %g", l);
    for (int p = 0; p < d->nparams; p++) {
      char name[128];
      snprintf(name, sizeof name, "grad.%s", d->params[p].name);
      expect_close(tb_grad(&tm, d->params[p].name), ir_interp_output(in, name, NULL),
                   (int64_t)tb_bytes(&d->params[p]) / 4, 1e-4, name);
    }
    ir_interp_destroy(in);

    /* train_step against the interpreter's @train_step */
    const ir_func *tf = ir_module_find_func(m, "train_step");
    in = ir_interp_create(tf);
    load_interp(in, tf, &tm, inputs, false);
    cr_assert(ir_interp_run(in, &err), "%s", err.msg);
    l = tb_call(&tm, d->train_step, (const void *const *)inputs);
    cr_expect(tb_close(l, ir_interp_output(in, "loss", NULL)[0], 1e-5, 1e-7), "train_step loss %g", l);
    for (int p = 0; p < d->nparams; p++)
      expect_close(tensor_in(&tm, &d->params[p], false), ir_interp_update(in, d->params[p].name, NULL),
                   (int64_t)tb_bytes(&d->params[p]) / 4, 1e-4, d->params[p].name);
    for (int p = 0; p < d->nstate; p++)
      expect_close(tensor_in(&tm, &d->state[p], true), ir_interp_update(in, d->state[p].name, NULL),
                   (int64_t)tb_bytes(&d->state[p]) / 4, 1e-4, d->state[p].name);
    ir_interp_destroy(in);
  }
  for (int i = 0; i < d->ninputs; i++) free(inputs[i]);
  tb_model_free(&tm);
  be_jit_destroy(j);
  ir_module_destroy(m);
}

static void check_module_against_interp(const char *path, int label_hi, int steps) {
  check_against_interp(tb_parse_file(path), label_hi, 0, steps);
}

/* Every example model, through the frontend, at batch 4. */
Test(backend_jit, every_example_matches_interpreter) {
  static const struct {
    const char *file;
    int classes;
  } examples[] = {{"linreg.def", 0}, {"softmax.def", 10}, {"mlp.def", 10}, {"digits_mlp.def", 10}};
  for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
    char path[512];
    snprintf(path, sizeof path, DLC_SOURCE_DIR "/examples/%s", examples[i].file);
    check_against_interp(tb_compile_model(path, 4), examples[i].classes, examples[i].classes, 2);
  }
}

Test(backend_jit, linreg_every_entry_matches_interpreter) {
  check_module_against_interp(INPUTS "linreg.dlir", 0, 2);
}

Test(backend_jit, mlp_adam_every_entry_matches_interpreter) {
  check_module_against_interp(INPUTS "mlp.dlir", 3, 3);
}

/* gradients then apply is the same update as train_step (same compiled arithmetic). */
Test(backend_jit, gradients_then_apply_equals_train_step) {
  ir_module *m = tb_parse_file(INPUTS "mlp.dlir");
  tb_passes(m, PIPELINE);
  const dlc_model_desc *d;
  be_jit *j = tb_jit(m, &d);
  tb_model a, b;
  tb_model_init(&a, d);
  tb_model_init(&b, d);
  float *inputs[8];
  fill_random(&a, inputs, 11, 3);
  memcpy(b.params, a.params, d->param_bytes);
  for (int s = 0; s < 3; s++) {
    float la = tb_call(&a, d->train_step, (const void *const *)inputs);
    float lb = tb_call(&b, d->gradients, (const void *const *)inputs);
    tb_call(&b, d->apply, NULL);
    cr_expect(tb_close(la, lb, 1e-6, 0), "step %d: %g vs %g", s, la, lb);
  }
  const float *pa = a.params, *pb = b.params;
  for (size_t i = 0; i < d->param_bytes / 4; i++) cr_expect(tb_close(pa[i], pb[i], 1e-5, 1e-7), "param word %zu", i);
  for (int i = 0; i < d->ninputs; i++) free(inputs[i]);
  tb_model_free(&a);
  tb_model_free(&b);
  be_jit_destroy(j);
  ir_module_destroy(m);
}

/* Synthetic data y = 2·x0 − 3·x1 + 0.5 + noise; the normal equations solved here. */
static void linreg_data(float *x, float *y, int n) {
  uint64_t s = 3;
  for (int i = 0; i < n; i++) {
    x[2 * i] = (float)tb_rand(&s, -1, 1);
    x[2 * i + 1] = (float)tb_rand(&s, -1, 1);
    y[i] = 2 * x[2 * i] - 3 * x[2 * i + 1] + 0.5f + (float)tb_rand(&s, -0.1, 0.1);
  }
}

static void closed_form(const float *x, const float *y, int n, double out[3]) {
  double a[3][4] = {{0}};
  for (int i = 0; i < n; i++) {
    double r[3] = {x[2 * i], x[2 * i + 1], 1};
    for (int p = 0; p < 3; p++) {
      for (int q = 0; q < 3; q++) a[p][q] += r[p] * r[q];
      a[p][3] += r[p] * y[i];
    }
  }
  for (int c = 0; c < 3; c++) /* Gauss-Jordan; XᵀX is positive definite here */
    for (int r = 0; r < 3; r++) {
      if (r == c) continue;
      double f = a[r][c] / a[c][c];
      for (int k = 0; k < 4; k++) a[r][k] -= f * a[c][k];
    }
  for (int i = 0; i < 3; i++) out[i] = a[i][3] / a[i][i];
}

static void train_linreg(const char *path, const char *pipeline, float *losses, int epochs, float wb[3]) {
  ir_module *m = tb_parse_file(path);
  if (pipeline) tb_passes(m, pipeline);
  const dlc_model_desc *d;
  be_jit *j = tb_jit(m, &d);
  cr_assert_null(d->gradients, "the hand-written module has no @gradients");
  tb_model tm;
  tb_model_init(&tm, d);
  enum { N = 256, B = 32 };
  static float x[N * 2], y[N];
  linreg_data(x, y, N);
  for (int e = 0; e < epochs; e++)
    for (int bi = 0; bi < N / B; bi++) {
      const void *in[2] = {x + bi * B * 2, y + bi * B};
      losses[e * (N / B) + bi] = tb_call(&tm, d->train_step, in);
    }
  wb[0] = tb_param(&tm, "w")[0];
  wb[1] = tb_param(&tm, "w")[1];
  wb[2] = tb_param(&tm, "b")[0];
  double cf[3];
  closed_form(x, y, N, cf);
  for (int i = 0; i < 3; i++) cr_expect(fabs(wb[i] - cf[i]) < 1e-2, "coef %d: %g vs closed form %g", i, wb[i], cf[i]);
  tb_model_free(&tm);
  be_jit_destroy(j);
  ir_module_destroy(m);
}

Test(backend_jit, handwritten_train_step_reaches_closed_form) {
  float losses[60 * 8], wb[3];
  train_linreg(INPUTS "linreg_step.dlir", NULL, losses, 60, wb);
  cr_expect(losses[60 * 8 - 1] < losses[0] / 10, "loss %g -> %g", losses[0], losses[60 * 8 - 1]);
}

Test(backend_jit, same_inputs_bit_identical_losses) {
  float l1[20 * 8], l2[20 * 8], wb1[3], wb2[3];
  /* A fresh compile each time: the code, not only the process, must be deterministic. */
  ir_module *m = tb_parse_file(INPUTS "linreg.dlir");
  ir_module_destroy(m);
  train_linreg(INPUTS "linreg_step.dlir", "fuse", l1, 20, wb1);
  train_linreg(INPUTS "linreg_step.dlir", "fuse", l2, 20, wb2);
  cr_expect(memcmp(l1, l2, sizeof l1) == 0, "losses differ between runs");
  cr_expect(memcmp(wb1, wb2, sizeof wb1) == 0, "parameters differ between runs");
}

/* An update whose parameter is still read after the update's natural place must not be
 * written in place too early: %w is read by the reduction that comes after it. */
Test(backend_jit, update_waits_for_every_reader) {
  const char *text = "meta batch = \"1\"\n"
                     "func @train_step(%x: f32[4] input, %w: f32[4] param) {\n"
                     "  %0 = const 0.5 : f32[]\n"
                     "  %1 = sub %w, %0 : f32[4]\n"
                     "  %2 = mul %w, %x : f32[4]\n"
                     "  %3 = reduce_sum %2 axes=[0] : f32[]\n"
                     "  %4 = reduce_sum %1 axes=[0] : f32[]\n"
                     "  %5 = add %3, %4 : f32[]\n"
                     "  output loss = %5\n"
                     "  update %w = %1\n"
                     "}\n";
  for (int fused = 0; fused < 2; fused++) {
    ir_module *m = tb_parse(text);
    if (fused) tb_passes(m, "fuse");
    const dlc_model_desc *d;
    be_jit *j = tb_jit(m, &d);
    tb_model tm;
    tb_model_init(&tm, d);
    float x[4] = {1, 2, 3, 4}, *w = tb_param(&tm, "w");
    for (int i = 0; i < 4; i++) w[i] = (float)i;
    const void *in[1] = {x};
    float l = tb_call(&tm, d->train_step, in);
    /* Σ w·x = 0+2+6+12 = 20; Σ (w − 0.5) = 6 − 2 = 4 */
    cr_expect_eq(l, 24.0f, "fused=%d: loss %g", fused, l);
    for (int i = 0; i < 4; i++) cr_expect_eq(w[i], (float)i - 0.5f);
    tb_model_free(&tm);
    be_jit_destroy(j);
    ir_module_destroy(m);
  }
}

/* Updates that swap two parameters read both old values. */
Test(backend_jit, updates_from_arguments_see_old_values) {
  const char *text = "func @train_step(%x: f32[2] input, %a: f32[2] param, %b: f32[2] param) {\n"
                     "  %0 = reduce_sum %x axes=[0] : f32[]\n"
                     "  output loss = %0\n"
                     "  update %a = %b\n"
                     "  update %b = %a\n"
                     "}\n";
  ir_module *m = tb_parse(text);
  const dlc_model_desc *d;
  be_jit *j = tb_jit(m, &d);
  tb_model tm;
  tb_model_init(&tm, d);
  float x[2] = {1, 2}, *a = tb_param(&tm, "a"), *b = tb_param(&tm, "b");
  a[0] = 1, a[1] = 2, b[0] = 3, b[1] = 4;
  const void *in[1] = {x};
  cr_expect_eq(tb_call(&tm, d->train_step, in), 3.0f);
  cr_expect(a[0] == 3 && a[1] == 4 && b[0] == 1 && b[1] == 2, "a=%g,%g b=%g,%g", a[0], a[1], b[0], b[1]);
  tb_model_free(&tm);
  be_jit_destroy(j);
  ir_module_destroy(m);
}

Test(backend_jit, missing_functions_give_null_entries) {
  ir_module *m = tb_parse_file(INPUTS "linreg.dlir");
  const dlc_model_desc *d;
  be_jit *j = tb_jit(m, &d);
  cr_expect_not_null(d->eval_loss);
  cr_expect_not_null(d->forward);
  cr_expect_null(d->train_step);
  cr_expect_null(d->gradients);
  cr_expect_null(d->apply);
  cr_expect_eq(d->batch, 32);
  cr_expect_eq(d->ninputs, 2);
  cr_expect_str_eq(d->inputs[1].name, "y");
  cr_expect_eq(d->nparams, 2);
  cr_expect_str_eq(d->params[0].init, "zeros");
  cr_expect_eq(d->prediction.rank, 2);
  be_jit_destroy(j);
  ir_module_destroy(m);
}

/* be_options.entries: the JIT compiles the entries asked for, the others are NULL, and the
 * ones compiled compute what they do when every entry is compiled. */
Test(backend_jit, entries_option_compiles_only_those) {
  ir_module *m = tb_parse_file(INPUTS "mlp.dlir");
  tb_passes(m, "shape-infer,autodiff,optimizer,simplify,fuse");
  static const unsigned asks[] = {DLC_ENTRY_TRAIN_STEP | DLC_ENTRY_EVAL_LOSS, DLC_ENTRY_GRADIENTS | DLC_ENTRY_APPLY, 0};
  float losses[3][2];
  for (int a = 0; a < 3; a++) {
    be_options o = be_options_default();
    o.entries = asks[a];
    const dlc_model_desc *d;
    be_jit *j = NULL;
    ir_error err = {0};
    cr_assert(be_jit_compile(m, &o, &j, &d, &err), "%s", err.msg);
    dlc_entry got[5] = {d->train_step, d->eval_loss, d->forward, d->gradients, d->apply};
    for (int e = 0; e < 5; e++)
      cr_expect_eq(got[e] != NULL, asks[a] == 0 || (asks[a] & (1u << e)), "ask %#x: entry %d", asks[a], e);
    tb_model tm;
    tb_model_init(&tm, d);
    uint64_t seed = 7;
    for (size_t b = 0; b < d->param_bytes / sizeof(float); b++) ((float *)tm.params)[b] = (float)tb_rand(&seed, -1, 1);
    void *in[8];
    for (int i = 0; i < d->ninputs; i++) {
      size_t n = tb_bytes(&d->inputs[i]);
      in[i] = tb_alloc(n);
      for (size_t b = 0; b < n / 4; b++)
        if (d->inputs[i].dtype == DLC_F32) ((float *)in[i])[b] = (float)tb_rand(&seed, -1, 1);
        else ((int32_t *)in[i])[b] = (int32_t)(b % 3);
    }
    for (int s = 0; s < 2; s++) {
      if (d->train_step) losses[a][s] = tb_call(&tm, d->train_step, (const void *const *)in);
      else losses[a][s] = tb_call(&tm, d->gradients, (const void *const *)in), tb_call(&tm, d->apply, NULL);
    }
    for (int i = 0; i < d->ninputs; i++) free(in[i]);
    tb_model_free(&tm);
    be_jit_destroy(j);
  }
  for (int s = 0; s < 2; s++) {
    cr_expect_eq(losses[0][s], losses[2][s], "step %d: train_step alone %g, with every entry %g", s,
                 losses[0][s], losses[2][s]);
    cr_expect(tb_close(losses[1][s], losses[2][s], 1e-5, 1e-6), "step %d: gradients+apply %g, train_step %g", s,
              losses[1][s], losses[2][s]);
  }
  ir_module_destroy(m);
}

Test(backend_jit, elementwise_kernel_vectorises) {
  const char *text = "func @forward(%x: f32[64,128] input, %b: f32[128] param) {\n"
                     "  %0 = add %x, %b : f32[64,128]\n"
                     "  %1 = relu %0 : f32[64,128]\n"
                     "  output prediction = %1\n"
                     "}\n";
  ir_module *m = tb_parse(text);
  tb_passes(m, "fuse");
  char *ir = tb_llvm_ir(m, true);
  cr_expect(strstr(ir, "<8 x float>") || strstr(ir, "<16 x float>"), "no 8- or 16-wide float vectors:\n%s", ir);
  free(ir);
  char *raw = tb_llvm_ir(m, false);
  cr_expect(strstr(raw, "define internal void @forward.kernel1(ptr noalias"), "kernel function:\n%s", raw);
  cr_expect(strstr(raw, "define void @dlc_entry_forward(ptr"), "entry function:\n%s", raw);
  free(raw);
  ir_module_destroy(m);
}

static int64_t ulps(float a, float b) {
  if (a == b) return 0;
  if (isnan(a) || isnan(b)) return INT64_MAX;
  int32_t ia, ib;
  memcpy(&ia, &a, 4);
  memcpy(&ib, &b, 4);
  if (ia < 0) ia = INT32_MIN - ia;
  if (ib < 0) ib = INT32_MIN - ib;
  return llabs((long long)ia - ib);
}

/* exp, log and tanh within 2 ulp of libm's over wide ranges. */
Test(backend_jit, transcendental_within_two_ulp_of_libm) {
  static const struct {
    const char *op;
    float (*ref)(float);
    float lo, hi;
  } fns[] = {{"exp", expf, -87, 88}, {"log", logf, 1e-30f, 1e30f}, {"tanh", tanhf, -10, 10}};
  enum { N = 4096 };
  for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++) {
    char text[256];
    snprintf(text, sizeof text,
             "func @forward(%%x: f32[%d] input) {\n  %%0 = %s %%x : f32[%d]\n  output prediction = %%0\n}\n", N,
             fns[k].op, N);
    ir_module *m = tb_parse(text);
    const dlc_model_desc *d;
    be_jit *j = tb_jit(m, &d);
    tb_model tm;
    tb_model_init(&tm, d);
    static float x[N];
    for (int i = 0; i < N; i++) {
      float t = (float)i / (N - 1);
      x[i] = strcmp(fns[k].op, "log") == 0 ? expf(logf(fns[k].lo) + t * (logf(fns[k].hi) - logf(fns[k].lo)))
                                           : fns[k].lo + t * (fns[k].hi - fns[k].lo);
    }
    const void *in[1] = {x};
    tb_call(&tm, d->forward, in);
    const float *y = tm.pred;
    int64_t worst = 0;
    for (int i = 0; i < N; i++) {
      int64_t u = ulps(y[i], fns[k].ref(x[i]));
      if (u > worst) worst = u;
    }
    cr_expect(worst <= 2, "%s: %lld ulp from libm", fns[k].op, (long long)worst);
    tb_model_free(&tm);
    be_jit_destroy(j);
    ir_module_destroy(m);
  }
}

/* one_hot inside fused kernels (computed in registers, never stored) and the simplify fold of
 * a scaled one_hot's row sum, compiled by the JIT and compared with the reference interpreter
 * run on the module before any pass: labels below 0 and at or past the depth included, whose
 * one_hot rows are zeros. */
#include <math.h>

#include "test_backend_util.h"

#define F(sig, body) "func @forward(" sig ") {\n" body "\n}\n"

/* The cross-entropy backward's shape: g = one_hot(y)·c - p·Σ_row(one_hot(y)·c), with labels
 * y - 2 in [-2, 5) for a depth of 4. */
static const char ce_backward[] = F(
    "%p: f32[6,4] input, %y: i32[6] input",
    "%0 = const 2 : i32[6]\n%1 = sub %y, %0 : i32[6]\n%2 = one_hot %1 : f32[6,4]\n"
    "%3 = const -0.25 : f32[6,4]\n%4 = mul %2, %3 : f32[6,4]\n"
    "%5 = reduce_sum %4 axes=[1] keepdims : f32[6,1]\n%6 = broadcast %5 : f32[6,4]\n"
    "%7 = mul %p, %6 : f32[6,4]\n%8 = sub %4, %7 : f32[6,4]\noutput prediction = %8");

/* A matmul whose epilogue subtracts a one_hot (labels in [0, 6), depth 4). */
static const char matmul_one_hot[] = F(
    "%x: f32[5,3] input, %w: f32[3,4] input, %y: i32[5] input",
    "%0 = matmul %x, %w : f32[5,4]\n%1 = one_hot %y : f32[5,4]\n%2 = sub %0, %1 : f32[5,4]\n"
    "output prediction = %2");

/* The row sum of a one_hot alone, i64 labels, no keepdims: 1 or 0 a row. */
static const char row_sum[] = F(
    "%y: i64[7] input",
    "%0 = const 3 : i64[7]\n%1 = sub %y, %0 : i64[7]\n%2 = one_hot %1 : f32[7,4]\n"
    "%3 = reduce_sum %2 axes=[1] : f32[7]\n%4 = const 2 : f32[7]\n%5 = mul %3, %4 : f32[7]\n"
    "output prediction = %5");

static double elem(const void *buf, int dtype, int64_t i) {
  switch (dtype) {
  case DLC_F32: return ((const float *)buf)[i];
  case DLC_I32: return ((const int32_t *)buf)[i];
  case DLC_I64: return (double)((const int64_t *)buf)[i];
  default: cr_assert_fail("dtype %d", dtype); return 0;
  }
}

static void set_elem(void *buf, int dtype, int64_t i, double v) {
  switch (dtype) {
  case DLC_F32: ((float *)buf)[i] = (float)v; break;
  case DLC_I32: ((int32_t *)buf)[i] = (int32_t)v; break;
  case DLC_I64: ((int64_t *)buf)[i] = (int64_t)v; break;
  default: cr_assert_fail("dtype %d", dtype);
  }
}

static int64_t numel(const dlc_tensor_desc *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->shape[i];
  return n;
}

/* Nodes of op in @forward after the passes, and how many of them are in a fused kernel. */
static int count_op(const ir_module *m, ir_opcode op, int *fused) {
  const ir_func *f = ir_module_find_func(m, "forward");
  int n = 0;
  *fused = 0;
  for (int i = 0; i < f->nbody; i++)
    if (f->body[i]->op == op) {
      n++;
      if (f->body[i]->kernel > 0) ++*fused;
    }
  return n;
}

/* Runs text through `pipeline` and the JIT, and the untouched text through the interpreter,
 * on the same inputs (integers in [0, 7), floats in [-2, 2)); the predictions must agree. */
static void check(const char *text, const char *pipeline, ir_module **compiled_out) {
  ir_module *ref = tb_parse(text), *m = tb_parse(text);
  tb_passes(m, pipeline);
  const dlc_model_desc *d;
  be_jit *j = tb_jit(m, &d);
  ir_interp *in = ir_interp_create(ir_module_find_func(ref, "forward"));
  void *inputs[8];
  uint64_t seed = 7;
  for (int i = 0; i < d->ninputs; i++) {
    const dlc_tensor_desc *t = &d->inputs[i];
    inputs[i] = tb_alloc(tb_bytes(t));
    double *r = ir_interp_arg(in, t->name);
    for (int64_t e = 0; e < numel(t); e++) {
      double v = t->dtype == DLC_F32 ? tb_rand(&seed, -2, 2) : floor(tb_rand(&seed, 0, 7));
      set_elem(inputs[i], t->dtype, e, v);
      r[e] = elem(inputs[i], t->dtype, e);
    }
  }
  tb_model tm;
  tb_model_init(&tm, d);
  tb_call(&tm, d->forward, (const void *const *)inputs);
  ir_error err = {0};
  cr_assert(ir_interp_run(in, &err), "interp: %s", err.msg);
  ir_type rt;
  const double *want = ir_interp_output(in, "prediction", &rt);
  cr_assert_eq(ir_type_numel(&rt), numel(&d->prediction));
  for (int64_t e = 0; e < numel(&d->prediction); e++) {
    double got = elem(tm.pred, d->prediction.dtype, e);
    cr_expect(tb_close(got, want[e], 1e-6, 1e-7), "%s: element %lld: got %.9g, want %.9g",
              pipeline, (long long)e, got, want[e]);
  }
  for (int i = 0; i < d->ninputs; i++) free(inputs[i]);
  tb_model_free(&tm);
  ir_interp_destroy(in);
  be_jit_destroy(j);
  ir_module_destroy(ref);
  *compiled_out = m;
}

Test(backend_one_hot, fused_into_its_consumer) {
  const char *texts[] = {ce_backward, matmul_one_hot, row_sum};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    ir_module *m;
    check(texts[i], "fuse", &m);
    int fused, n = count_op(m, IR_OP_ONE_HOT, &fused);
    cr_expect(n == 1 && fused == 1, "case %zu: %d one_hot, %d in a kernel", i, n, fused);
    ir_module_destroy(m);
  }
}

Test(backend_one_hot, row_sum_folded) {
  const char *texts[] = {ce_backward, row_sum};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    ir_module *m;
    check(texts[i], "simplify,fuse", &m);
    int fused;
    cr_expect_eq(count_op(m, IR_OP_REDUCE_SUM, &fused), 0, "case %zu: the row sum is still there", i);
    ir_module_destroy(m);
  }
}

Test(backend_one_hot, unfused) {
  const char *texts[] = {ce_backward, matmul_one_hot, row_sum};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    ir_module *m;
    check(texts[i], "simplify", &m);
    ir_module_destroy(m);
  }
}

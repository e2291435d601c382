/* Every op of the table, compiled by the backend (JIT) and run, against the reference
 * interpreter on the same inputs: with each op a kernel of its own and after the fuse pass,
 * including broadcasting (implicit and explicit) and size-1 axes. */
#include <math.h>

#include "test_backend_util.h"

typedef struct {
  const char *name;
  const char *text;     /* a module whose @forward has INPUT args and output prediction */
  double lo, hi;        /* float inputs in [lo, hi) */
  int ihi;              /* integer inputs in [0, ihi) */
} op_case;

#define F(sig, body) "func @forward(" sig ") {\n" body "\n}\n"

static const op_case cases[] = {
    {"neg", F("%a: f32[3,4] input", "%0 = neg %a : f32[3,4]\noutput prediction = %0"), -2, 2, 0},
    {"abs", F("%a: f32[3,4] input", "%0 = abs %a : f32[3,4]\noutput prediction = %0"), -2, 2, 0},
    {"sign", F("%a: f32[3,4] input", "%0 = sign %a : f32[3,4]\noutput prediction = %0"), -2, 2, 0},
    {"exp", F("%a: f32[3,4] input", "%0 = exp %a : f32[3,4]\noutput prediction = %0"), -5, 5, 0},
    {"log", F("%a: f32[3,4] input", "%0 = log %a : f32[3,4]\noutput prediction = %0"), 0.01, 9, 0},
    {"sqrt", F("%a: f32[3,4] input", "%0 = sqrt %a : f32[3,4]\noutput prediction = %0"), 0.01, 9, 0},
    {"rsqrt", F("%a: f32[3,4] input", "%0 = rsqrt %a : f32[3,4]\noutput prediction = %0"), 0.01, 9, 0},
    {"tanh", F("%a: f32[3,4] input", "%0 = tanh %a : f32[3,4]\noutput prediction = %0"), -3, 3, 0},
    {"sigmoid", F("%a: f32[3,4] input", "%0 = sigmoid %a : f32[3,4]\noutput prediction = %0"), -6, 6, 0},
    {"relu", F("%a: f32[3,4] input", "%0 = relu %a : f32[3,4]\noutput prediction = %0"), -2, 2, 0},
    {"cast_f64", F("%a: f32[3,4] input", "%0 = cast %a : f64[3,4]\noutput prediction = %0"), -2, 2, 0},
    {"cast_i32", F("%a: f32[3,4] input", "%0 = cast %a : i32[3,4]\noutput prediction = %0"), -9, 9, 0},
    {"cast_from_i32", F("%a: i32[5] input", "%0 = cast %a : f32[5]\noutput prediction = %0"), 0, 0, 50},
    {"f64_exp", F("%a: f64[6] input", "%0 = exp %a : f64[6]\noutput prediction = %0"), -3, 3, 0},
    {"add_implicit_row", F("%a: f32[3,4] input, %b: f32[4] input",
                           "%0 = add %a, %b : f32[3,4]\noutput prediction = %0"), -2, 2, 0},
    {"sub_size1_axis", F("%a: f32[3,4] input, %b: f32[3,1] input",
                         "%0 = sub %a, %b : f32[3,4]\noutput prediction = %0"), -2, 2, 0},
    {"mul_outer", F("%a: f32[3,1] input, %b: f32[1,4] input",
                    "%0 = mul %a, %b : f32[3,4]\noutput prediction = %0"), -2, 2, 0},
    {"div", F("%a: f32[3,4] input, %b: f32[3,4] input",
              "%0 = abs %b : f32[3,4]\n%1 = const 0.5 : f32[]\n%2 = add %0, %1 : f32[3,4]\n"
              "%3 = div %a, %2 : f32[3,4]\noutput prediction = %3"), -2, 2, 0},
    {"div_i32", F("%a: i32[6] input, %b: i32[6] input", /* by zero: 0 */
                  "%0 = const [0, 1, -2, 0, 3, 1] : i32[6]\n%1 = add %b, %0 : i32[6]\n%2 = div %a, %1 : i32[6]\n"
                  "%3 = div %a, %0 : i32[6]\n%4 = add %2, %3 : i32[6]\noutput prediction = %4"), 0, 0, 7},
    {"pow", F("%a: f32[3,4] input, %b: f32[3,4] input", "%0 = pow %a, %b : f32[3,4]\noutput prediction = %0"), 0.1, 3, 0},
    {"max_min", F("%a: f32[3,4] input, %b: f32[4] input",
                  "%0 = max %a, %b : f32[3,4]\n%1 = min %0, %b : f32[3,4]\n%2 = add %0, %1 : f32[3,4]\n"
                  "output prediction = %2"), -2, 2, 0},
    {"explicit_broadcast", F("%a: f32[3,1] input, %b: f32[] input",
                             "%0 = broadcast %a : f32[2,3,4]\n%1 = broadcast %b : f32[2,3,4]\n"
                             "%2 = mul %0, %1 : f32[2,3,4]\noutput prediction = %2"), -2, 2, 0},
    {"compare_select", F("%a: f32[3,4] input, %b: f32[3,4] input",
                         "%0 = gt %a, %b : bool[3,4]\n%1 = le %a, %b : bool[3,4]\n%2 = ne %0, %1 : bool[3,4]\n"
                         "%3 = select %0, %a, %b : f32[3,4]\n%4 = cast %2 : f32[3,4]\n%5 = add %3, %4 : f32[3,4]\n"
                         "output prediction = %5"), -2, 2, 0},
    {"compare_out", F("%a: f32[3,4] input, %b: f32[4] input", "%0 = lt %a, %b : bool[3,4]\noutput prediction = %0"), -2, 2, 0},
    {"eq_ge_i32", F("%a: i32[8] input, %b: i32[8] input",
                    "%0 = eq %a, %b : bool[8]\n%1 = ge %a, %b : bool[8]\n%2 = select %0, %a, %b : i32[8]\n"
                    "%3 = cast %1 : i32[8]\n%4 = add %2, %3 : i32[8]\noutput prediction = %4"), 0, 0, 3},
    {"relu_mask", F("%a: f32[3,4] input, %g: f32[3,4] input",
                    "%0 = const 0 : f32[]\n%1 = gt %a, %0 : bool[3,4]\n%2 = const 0 : f32[3,4]\n"
                    "%3 = select %1, %g, %2 : f32[3,4]\noutput prediction = %3"), -2, 2, 0},
    {"reduce_sum_0", F("%a: f32[5,4] input", "%0 = reduce_sum %a axes=[0] : f32[4]\noutput prediction = %0"), -2, 2, 0},
    {"reduce_sum_1_keep", F("%a: f32[5,4] input", "%0 = reduce_sum %a axes=[1] keepdims : f32[5,1]\noutput prediction = %0"), -2, 2, 0},
    {"reduce_mean_all", F("%a: f32[5,4] input", "%0 = reduce_mean %a axes=[0,1] : f32[]\noutput prediction = %0"), -2, 2, 0},
    {"reduce_max_mid", F("%a: f32[2,5,3] input", "%0 = reduce_max %a axes=[1] : f32[2,3]\noutput prediction = %0"), -2, 2, 0},
    {"reduce_sum_i32", F("%a: i32[4,3] input", "%0 = reduce_sum %a axes=[0] : i32[3]\noutput prediction = %0"), 0, 0, 100},
    {"logsumexp", F("%a: f32[3,6] input", "%0 = logsumexp %a axes=[1] : f32[3]\noutput prediction = %0"), -30, 30, 0},
    {"fused_reduce", F("%a: f32[5,4] input, %b: f32[4] input",
                       "%0 = sub %a, %b : f32[5,4]\n%1 = mul %0, %0 : f32[5,4]\n%2 = reduce_sum %1 axes=[0] : f32[4]\n"
                       "%3 = add %2, %b : f32[4]\noutput prediction = %3"), -2, 2, 0},
    {"matmul", F("%a: f32[3,4] input, %b: f32[4,5] input", "%0 = matmul %a, %b : f32[3,5]\noutput prediction = %0"), -2, 2, 0},
    {"matmul_batched", F("%a: f32[2,3,4] input, %b: f32[4,5] input", "%0 = matmul %a, %b : f32[2,3,5]\noutput prediction = %0"), -2, 2, 0},
    {"matmul_vec", F("%a: f32[1,300] input, %b: f32[300,1] input", "%0 = matmul %a, %b : f32[1,1]\noutput prediction = %0"), -2, 2, 0},
    {"matmul_long_k", F("%a: f32[3,600] input, %b: f32[600,7] input", "%0 = matmul %a, %b : f32[3,7]\noutput prediction = %0"), -1, 1, 0},
    {"reshape", F("%a: f32[3,4] input", "%0 = exp %a : f32[3,4]\n%1 = reshape %0 : f32[2,6]\n%2 = neg %1 : f32[2,6]\noutput prediction = %2"), -2, 2, 0},
    {"reshape_out", F("%a: f32[3,4] input", "%0 = reshape %a : f32[12]\noutput prediction = %0"), -2, 2, 0},
    {"transpose", F("%a: f32[2,3,4] input", "%0 = transpose %a perm=[2,0,1] : f32[4,2,3]\noutput prediction = %0"), -2, 2, 0},
    {"slice", F("%a: f32[5,6] input", "%0 = slice %a start=[1,2] end=[4,5] : f32[3,3]\noutput prediction = %0"), -2, 2, 0},
    {"pad", F("%a: f32[2,3] input", "%0 = pad %a lo=[1,0] hi=[2,2] : f32[5,5]\noutput prediction = %0"), -2, 2, 0},
    {"concat", F("%a: f32[2,3] input, %b: f32[2,1] input, %c: f32[2,2] input",
                 "%0 = concat %a, %b, %c axis=1 : f32[2,6]\noutput prediction = %0"), -2, 2, 0},
    {"one_hot", F("%a: i32[5] input", "%0 = one_hot %a : f32[5,4]\noutput prediction = %0"), 0, 0, 5},
    {"gather", F("%a: f32[4,3] input, %i: i32[3] input", "%0 = gather %a, %i axis=0 : f32[3]\noutput prediction = %0"), -2, 2, 4},
    {"iota_const", F("%a: f32[2,3] input",
                     "%0 = iota axis=1 : f32[2,3]\n%1 = const [1, 2, 3, 4, 5, 6] : f32[2,3]\n%2 = add %0, %1 : f32[2,3]\n"
                     "%3 = mul %2, %a : f32[2,3]\noutput prediction = %3"), -2, 2, 0},
    {"const_out", F("%a: f32[2] input", "%0 = const [7, 8] : f32[2]\noutput prediction = %0"), -2, 2, 0},
    {"input_out", F("%a: f32[2,2] input", "output prediction = %a"), -2, 2, 0},
    {"softmax_1", F("%a: f32[3,5] input", "%0 = softmax %a axis=1 : f32[3,5]\noutput prediction = %0"), -20, 20, 0},
    {"softmax_0", F("%a: f32[3,5] input", "%0 = softmax %a axis=0 : f32[3,5]\noutput prediction = %0"), -20, 20, 0},
    {"log_softmax", F("%a: f32[4,7] input", "%0 = log_softmax %a axis=1 : f32[4,7]\noutput prediction = %0"), -50, 50, 0},
    {"softmax_size1", F("%a: f32[3,1] input", "%0 = softmax %a axis=1 : f32[3,1]\noutput prediction = %0"), -5, 5, 0},
};

static double elem(const void *buf, int dtype, int64_t i) {
  switch (dtype) {
  case DLC_F32: return ((const float *)buf)[i];
  case DLC_F64: return ((const double *)buf)[i];
  case DLC_I32: return ((const int32_t *)buf)[i];
  case DLC_I64: return (double)((const int64_t *)buf)[i];
  default: return ((const uint8_t *)buf)[i];
  }
}

static void set_elem(void *buf, int dtype, int64_t i, double v) {
  switch (dtype) {
  case DLC_F32: ((float *)buf)[i] = (float)v; break;
  case DLC_F64: ((double *)buf)[i] = v; break;
  case DLC_I32: ((int32_t *)buf)[i] = (int32_t)v; break;
  case DLC_I64: ((int64_t *)buf)[i] = (int64_t)v; break;
  default: ((uint8_t *)buf)[i] = v != 0; break;
  }
}

static int64_t numel(const dlc_tensor_desc *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->shape[i];
  return n;
}

static void check_case(const op_case *c, bool fuse) {
  ir_module *m = tb_parse(c->text);
  if (fuse) tb_passes(m, "fuse");
  const dlc_model_desc *d;
  be_jit *j = tb_jit(m, &d);
  cr_assert_not_null(d->forward, "%s: no forward entry", c->name);
  ir_interp *in = ir_interp_create(ir_module_find_func(m, "forward"));
  void *inputs[8];
  uint64_t seed = 42;
  for (int i = 0; i < d->ninputs; i++) {
    const dlc_tensor_desc *t = &d->inputs[i];
    inputs[i] = tb_alloc(tb_bytes(t));
    double *ref = ir_interp_arg(in, t->name);
    for (int64_t e = 0; e < numel(t); e++) {
      double v = t->dtype <= DLC_F64 ? tb_rand(&seed, c->lo, c->hi) : floor(tb_rand(&seed, 0, c->ihi));
      set_elem(inputs[i], t->dtype, e, v);
      ref[e] = elem(inputs[i], t->dtype, e); /* the interpreter sees the stored (rounded) value */
    }
  }
  tb_model tm;
  tb_model_init(&tm, d);
  tb_call(&tm, d->forward, (const void *const *)inputs);
  ir_error err = {0};
  cr_assert(ir_interp_run(in, &err), "%s: interp: %s", c->name, err.msg);
  ir_type rt;
  const double *want = ir_interp_output(in, "prediction", &rt);
  cr_assert_eq(ir_type_numel(&rt), numel(&d->prediction), "%s", c->name);
  double rel = d->prediction.dtype == DLC_F64 ? 1e-12 : 1e-5;
  for (int64_t e = 0; e < numel(&d->prediction); e++) {
    double got = elem(tm.pred, d->prediction.dtype, e);
    cr_expect(tb_close(got, want[e], rel, 1e-6), "%s%s: element %lld: got %.9g, want %.9g", c->name,
              fuse ? " (fused)" : "", (long long)e, got, want[e]);
  }
  for (int i = 0; i < d->ninputs; i++) free(inputs[i]);
  tb_model_free(&tm);
  ir_interp_destroy(in);
  be_jit_destroy(j);
  ir_module_destroy(m);
}

Test(backend_ops, every_case_unfused) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i], false);
}

Test(backend_ops, every_case_fused) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i], true);
}

/* Every op of the table appears in some case above (arguments aside). */
Test(backend_ops, table_is_covered) {
  for (int op = 0; op < IR_OP_COUNT; op++) {
    if (ir_ops[op].kind == IR_KIND_ARG) continue;
    char needle[64];
    snprintf(needle, sizeof needle, "= %s ", ir_ops[op].name);
    bool found = false;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && !found; i++) found = strstr(cases[i].text, needle);
    cr_expect(found, "op %s has no backend test case", ir_ops[op].name);
  }
}

/* Initialiser specs: what parses (with defaults and keywords), what is refused and what
 * the message says, and the statistics of the filled tensors against torch.nn.init's
 * formulas with dlc's [in, out] fans. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

static rt_init_spec parse_ok(const char *s) {
  rt_init_spec r;
  char err[RT_ERR_MAX] = "";
  int rc = rt_init_parse(s, &r, err);
  cr_assert_eq(rc, 0, "\"%s\" should parse: %s", s, err);
  return r;
}

/* The spec is refused, and both errbuf and dlc_last_error() contain `want`. */
static void parse_bad(const char *s, const char *want) {
  char err[RT_ERR_MAX] = "";
  cr_assert_neq(rt_init_check(s, err), 0, "\"%s\" should be refused", s);
  cr_assert(strstr(err, want), "message for \"%s\" is \"%s\", expected to contain \"%s\"", s, err, want);
  cr_assert_str_eq(dlc_last_error(), err);
  cr_assert(strstr(err, "bad initialiser"), "%s", err);
}

Test(init, parses_every_initialiser_with_defaults) {
  rt_init_spec r = parse_ok("zeros");
  cr_assert_eq(r.kind, RT_INIT_ZEROS);
  cr_assert_eq(parse_ok("ones").kind, RT_INIT_ONES);
  r = parse_ok("constant(-0.25)");
  cr_assert_eq(r.kind, RT_INIT_CONSTANT);
  cr_assert_float_eq(r.arg[0], -0.25, 0);
  r = parse_ok("uniform");
  cr_assert_eq(r.kind, RT_INIT_UNIFORM);
  cr_assert(r.arg[0] == 0 && r.arg[1] == 1);
  r = parse_ok("normal(0, 0.01)");
  cr_assert_eq(r.kind, RT_INIT_NORMAL);
  cr_assert(r.arg[0] == 0 && r.arg[1] == 0.01);
  r = parse_ok("xavier_uniform");
  cr_assert(r.kind == RT_INIT_XAVIER_UNIFORM && r.arg[0] == 1);
  r = parse_ok("xavier_normal(gain=2)");
  cr_assert(r.kind == RT_INIT_XAVIER_NORMAL && r.arg[0] == 2);
  r = parse_ok("kaiming_uniform");
  cr_assert(r.kind == RT_INIT_KAIMING_UNIFORM && r.arg[0] == 0 && r.arg[1] == 0);
  r = parse_ok("kaiming_normal(mode=fan_out)");
  cr_assert(r.kind == RT_INIT_KAIMING_NORMAL && r.arg[1] == 1);
  r = parse_ok("  uniform ( b = 3 , a=-1e-1 )  ");
  cr_assert(r.arg[0] == -0.1 && r.arg[1] == 3);
  r = parse_ok("normal(+.5, 2.)");
  cr_assert(r.arg[0] == 0.5 && r.arg[1] == 2);
  cr_assert_eq(parse_ok("he_normal").kind, RT_INIT_KAIMING_NORMAL);
  cr_assert_eq(parse_ok("glorot_uniform").kind, RT_INIT_XAVIER_UNIFORM);
  cr_assert_eq(parse_ok("normal()").kind, RT_INIT_NORMAL);
}

Test(init, malformed_specs_say_what_is_wrong) {
  parse_bad("", "empty");
  parse_bad("normall(0, 1)", "did you mean 'normal'?");
  parse_bad("xavier", "did you mean 'xavier_uniform' or 'xavier_normal'?");
  parse_bad("gaussian", "unknown initialiser 'gaussian'");
  parse_bad("normal(0, 0.01", "missing ')'");
  parse_bad("normal(0, abc)", "'abc' is not a number (argument 'std' at column 11)");
  parse_bad("normal(0 0.01)", "expected ',' or ')' at column 10");
  parse_bad("normal(0,)", "expected an argument after ','");
  parse_bad("normal(0, 1) x", "unexpected 'x' at column 14");
  parse_bad("uniform(1, 0)", "uniform needs a <= b");
  parse_bad("normal(0, -1)", "std must be >= 0");
  parse_bad("constant", "constant needs its argument 'value'");
  parse_bad("zeros(1)", "zeros takes no arguments");
  parse_bad("normal(0, 1, 2)", "normal takes at most 2 arguments");
  parse_bad("normal(mean=0, 0.1)", "positional argument after a keyword argument");
  parse_bad("normal(std=1, std=2)", "argument 'std' given twice");
  parse_bad("normal(sd=1)", "normal has no argument 'sd'; did you mean 'std'?");
  parse_bad("kaiming_uniform(mode=fan_middle)", "'mode' must be fan_in or fan_out, not 'fan_middle'");
  parse_bad("constant(1e999)", "out of range");
  parse_bad("constant(nan)", "'nan' is not a number");
  parse_bad("(1)", "expected an initialiser name at column 1");
}

Test(init, fans_follow_the_in_out_layout) {
  double fi, fo;
  rt_init_fans(2, (int64_t[]){300, 200}, &fi, &fo);
  cr_assert(fi == 300 && fo == 200);
  rt_init_fans(1, (int64_t[]){7}, &fi, &fo);
  cr_assert(fi == 7 && fo == 7);
  rt_init_fans(0, NULL, &fi, &fo);
  cr_assert(fi == 1 && fo == 1);
  rt_init_fans(4, (int64_t[]){3, 3, 16, 32}, &fi, &fo); /* [kh, kw, in, out] */
  cr_assert(fi == 9 * 16 && fo == 9 * 32);
}

typedef struct {
  double mean, std, maxabs;
} stats;

/* Fills a fresh tensor of the given dtype and shape from spec and returns its statistics. */
static stats fill_stats(const char *spec, int dtype, int64_t rows, int64_t cols, uint64_t seed) {
  dlc_tensor t = {.name = "w", .dtype = dtype, .rank = 2, .shape = {rows, cols}};
  int64_t n = rows * cols;
  t.data = malloc((size_t)n * rt_dtype_size(dtype));
  cr_assert_eq(rt_init_tensor(spec, &t, seed), 0, "%s", dlc_last_error());
  double s = 0, s2 = 0, mx = 0;
  for (int64_t i = 0; i < n; i++) {
    double v = dtype == DLC_F32 ? ((float *)t.data)[i] : ((double *)t.data)[i];
    s += v;
    s2 += v * v;
    if (fabs(v) > mx) mx = fabs(v);
  }
  free(t.data);
  stats r = {s / n, sqrt(s2 / n - (s / n) * (s / n)), mx};
  return r;
}

Test(init, normal_has_the_requested_mean_and_std) {
  stats s = fill_stats("normal(0.5, 2)", DLC_F32, 500, 400, 1);
  cr_assert_float_eq(s.mean, 0.5, 0.03, "mean %g", s.mean); /* std of the mean: 0.0045 */
  cr_assert_float_eq(s.std, 2.0, 0.02, "std %g", s.std);
  s = fill_stats("normal(-1, 0.01)", DLC_F64, 500, 400, 2);
  cr_assert_float_eq(s.mean, -1.0, 0.0002, "mean %g", s.mean);
  cr_assert_float_eq(s.std, 0.01, 0.0002, "std %g", s.std);
}

Test(init, uniform_stays_in_its_bounds) {
  stats s = fill_stats("uniform(-3, 1)", DLC_F32, 300, 300, 3);
  cr_assert_float_eq(s.mean, -1.0, 0.02, "mean %g", s.mean);
  cr_assert_float_eq(s.std, 4.0 / sqrt(12.0), 0.01, "std %g", s.std);
  cr_assert_leq(s.maxabs, 3.0);
}

Test(init, xavier_matches_glorots_formulas) {
  /* fan_in 300, fan_out 200: bound sqrt(6/500), std sqrt(2/500). */
  double bound = sqrt(6.0 / 500);
  stats s = fill_stats("xavier_uniform", DLC_F32, 300, 200, 4);
  cr_assert_leq(s.maxabs, (float)bound, "max %g bound %g", s.maxabs, bound);
  cr_assert_gt(s.maxabs, 0.999 * bound);
  cr_assert_float_eq(s.std, bound / sqrt(3.0), 0.01 * bound);
  cr_assert_float_eq(s.mean, 0.0, 0.01 * bound);
  s = fill_stats("xavier_normal", DLC_F64, 300, 200, 5);
  cr_assert_float_eq(s.std, sqrt(2.0 / 500), 0.01 * sqrt(2.0 / 500), "std %g", s.std);
  s = fill_stats("xavier_uniform(gain=2)", DLC_F32, 300, 200, 6);
  cr_assert_leq(s.maxabs, (float)(2 * bound));
  cr_assert_gt(s.maxabs, 0.999 * 2 * bound);
}

Test(init, kaiming_matches_hes_formulas) {
  /* shape [in=500, out=100]; fan_in mode uses 500, fan_out mode 100. */
  double bound = sqrt(6.0 / 500);
  stats s = fill_stats("kaiming_uniform", DLC_F32, 500, 100, 7);
  cr_assert_leq(s.maxabs, (float)bound);
  cr_assert_gt(s.maxabs, 0.999 * bound);
  s = fill_stats("kaiming_normal", DLC_F32, 500, 100, 8);
  cr_assert_float_eq(s.std, sqrt(2.0 / 500), 0.01 * sqrt(2.0 / 500), "std %g", s.std);
  s = fill_stats("kaiming_normal(mode=fan_out)", DLC_F32, 500, 100, 9);
  cr_assert_float_eq(s.std, sqrt(2.0 / 100), 0.01 * sqrt(2.0 / 100), "std %g", s.std);
  s = fill_stats("kaiming_normal(a=1)", DLC_F32, 500, 100, 10); /* gain sqrt(2/(1+1)) = 1 */
  cr_assert_float_eq(s.std, sqrt(1.0 / 500), 0.01 * sqrt(1.0 / 500), "std %g", s.std);
}

Test(init, a_seed_and_name_give_the_same_values_every_time) {
  float a[64], b[64], c[64], d[64];
  dlc_tensor ta = {.name = "w", .dtype = DLC_F32, .rank = 2, .shape = {8, 8}, .data = a};
  dlc_tensor tb = ta, tc = ta, td = ta;
  tb.data = b;
  tc.data = c;
  tc.name = "v";
  td.data = d;
  cr_assert_eq(rt_init_tensor("normal(0, 1)", &ta, 123), 0);
  cr_assert_eq(rt_init_tensor("normal(0, 1)", &tb, 123), 0);
  cr_assert_eq(rt_init_tensor("normal(0, 1)", &tc, 123), 0);
  cr_assert_eq(rt_init_tensor("normal(0, 1)", &td, 124), 0);
  cr_assert_arr_eq(a, b, sizeof a);
  cr_assert(memcmp(a, c, sizeof a) != 0, "another parameter gets another stream");
  cr_assert(memcmp(a, d, sizeof a) != 0, "another seed gives other values");
}

Test(init, constants_fill_every_dtype_they_fit) {
  float f[6];
  double g[6];
  int32_t i[6];
  int64_t l[6];
  unsigned char bo[6];
  dlc_tensor t = {.name = "c", .dtype = DLC_F32, .rank = 2, .shape = {2, 3}, .data = f};
  cr_assert_eq(rt_init_tensor("constant(0.75)", &t, 0), 0);
  for (int k = 0; k < 6; k++) cr_assert_eq(f[k], 0.75f);
  t.dtype = DLC_F64;
  t.data = g;
  cr_assert_eq(rt_init_tensor("ones", &t, 0), 0);
  for (int k = 0; k < 6; k++) cr_assert_eq(g[k], 1.0);
  t.dtype = DLC_I32;
  t.data = i;
  cr_assert_eq(rt_init_tensor("constant(-7)", &t, 0), 0);
  for (int k = 0; k < 6; k++) cr_assert_eq(i[k], -7);
  t.dtype = DLC_I64;
  t.data = l;
  cr_assert_eq(rt_init_tensor(NULL, &t, 0), 0); /* no spec: zeros */
  for (int k = 0; k < 6; k++) cr_assert_eq(l[k], 0);
  t.dtype = DLC_BOOL;
  t.data = bo;
  cr_assert_eq(rt_init_tensor("ones", &t, 0), 0);
  for (int k = 0; k < 6; k++) cr_assert_eq(bo[k], 1);

  t.dtype = DLC_I32;
  t.data = i;
  cr_assert_neq(rt_init_tensor("constant(0.5)", &t, 0), 0);
  cr_assert(strstr(dlc_last_error(), "not a valid i32 value"), "%s", dlc_last_error());
  cr_assert_neq(rt_init_tensor("normal(0, 1)", &t, 0), 0);
  cr_assert(strstr(dlc_last_error(), "needs a floating-point tensor, but 'c' is i32"), "%s", dlc_last_error());
  t.dtype = DLC_BOOL;
  t.data = bo;
  cr_assert_neq(rt_init_tensor("constant(2)", &t, 0), 0);
}

Test(init, empty_tensors_need_no_data) {
  dlc_tensor t = {.name = "e", .dtype = DLC_F32, .rank = 2, .shape = {0, 5}, .data = NULL};
  cr_assert_eq(rt_init_tensor("xavier_uniform", &t, 0), 0, "%s", dlc_last_error());
}

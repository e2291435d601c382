/* dlc gradcheck: are the compiler's gradients right? Reverse mode against central finite
 * differences and forward mode, in f64 with the reference interpreter, at a seeded random
 * point; a table per parameter, and a non-zero exit when any disagree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "fe.h"
#include "gradcheck.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: dlc gradcheck MODEL.def|MODULE.dlir [--seed N] [--eps X] [--tol X]\n"
          "                     [--samples N] [--directions N] [--batch N]\n"
          "Compares reverse-mode gradients (the autodiff pass) with central finite\n"
          "differences and with forward-mode JVPs along random directions, in f64.\n"
          "  --seed N        random point, sampled elements and directions (default 1)\n"
          "  --eps X         finite-difference step (default 1e-6)\n"
          "  --tol X         agreement: |a - b| <= tol * max(1, |a|, |b|) (default 1e-6)\n"
          "  --samples N     elements per parameter checked by differences, 0 = all (default 64)\n"
          "  --directions N  random JVP directions per parameter (default 2)\n"
          "  --batch N       batch size for a .def model (default 3)\n"
          "A .dlir module that already has @gradients / @jvp is checked as it is.\n");
}

static bool parse_num(const char *opt, const char *s, double lo, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !(v >= lo)) {
    fprintf(stderr, "dlc gradcheck: error: bad value '%s' for %s\n", s, opt);
    return false;
  }
  *out = v;
  return true;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static ir_module *load(const char *path, int64_t batch) {
  size_t len;
  char *text = drv_read_file(path, &len);
  if (!text) return NULL;
  ir_module *m = NULL;
  if (ends_with(path, ".def")) {
    fe_diagnostics diags;
    fe_diagnostics_init(&diags);
    fe_options fo = {.batch = batch};
    m = fe_compile(path, text, len, &fo, &diags);
    fe_print_diagnostics(stderr, &diags, text, len);
    fe_diagnostics_free(&diags);
  } else {
    ir_error err = {0};
    m = ir_parse(text, len, &err);
    if (m && !ir_verify_module(m, &err)) {
      ir_module_destroy(m);
      m = NULL;
    }
    if (!m) drv_report(path, &err);
  }
  free(text);
  return m;
}

static void print_report(const char *path, const pass_gradcheck_options *o,
                         const pass_gradcheck_report *r) {
  printf("gradcheck %s: @%s, loss %.6g at seed %llu (eps %g, tol %g)\n", path, r->func, r->loss,
         (unsigned long long)o->seed, o->eps, o->tol);
  printf("%-20s %-16s %9s %12s %12s %12s %12s  %s\n", "parameter", "type", "checked",
         "max abs err", "max rel err", "jvp vs grad", "jvp vs fd", "");
  int bad = 0;
  for (int i = 0; i < r->nparams; i++) {
    const pass_gradcheck_param *p = &r->params[i];
    char t[IR_TYPE_STR_MAX], checked[48];
    snprintf(checked, sizeof checked, "%lld/%lld", (long long)p->checked,
             (long long)ir_type_numel(&p->type));
    printf("%-20s %-16s %9s %12.3e %12.3e %12.3e %12.3e  %s\n", p->name,
           ir_type_str(&p->type, t, sizeof t), checked, p->max_abs, p->max_rel, p->jvp_err,
           p->jvp_fd_err, p->ok ? "ok" : "MISMATCH");
    bad += !p->ok;
  }
  if (!(r->loss_err <= o->tol))
    printf("the gradient function's loss differs from @%s's (scaled error %.3e)\n", r->func,
           r->loss_err);
  if (r->ok)
    printf("all %d parameter gradients agree\n", r->nparams);
  else
    printf("%d of %d parameter gradients disagree\n", bad, r->nparams);
}

int cmd_gradcheck(int argc, char **argv) {
  const char *path = NULL;
  pass_gradcheck_options o = {.seed = 1, .samples = 64};
  double batch = 3;
  for (int i = 1; i < argc; i++) {
    const char *v;
    double x;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else if (drv_option(argc, argv, &i, "--seed", &v)) {
      if (!parse_num("--seed", v, 0, &x)) return 2;
      o.seed = (uint64_t)x;
    } else if (drv_option(argc, argv, &i, "--eps", &v)) {
      if (!parse_num("--eps", v, 1e-300, &o.eps)) return 2;
    } else if (drv_option(argc, argv, &i, "--tol", &v)) {
      if (!parse_num("--tol", v, 1e-300, &o.tol)) return 2;
    } else if (drv_option(argc, argv, &i, "--samples", &v)) {
      if (!parse_num("--samples", v, 0, &x)) return 2;
      o.samples = (int)x;
    } else if (drv_option(argc, argv, &i, "--directions", &v)) {
      if (!parse_num("--directions", v, 1, &x)) return 2;
      o.directions = (int)x;
    } else if (drv_option(argc, argv, &i, "--batch", &v)) {
      if (!parse_num("--batch", v, 1, &batch)) return 2;
    } else if (!drv_input("dlc gradcheck", argv[i], &path, usage)) {
      return 2;
    }
  }
  if (!path) {
    usage(stderr);
    return 2;
  }
  pass_gradcheck_defaults(&o);
  ir_module *m = load(path, (int64_t)batch);
  if (!m) return 1;
  pass_gradcheck_report r;
  ir_error err = {0};
  int status = 1;
  if (!pass_gradcheck(m, &o, NULL, NULL, &r, &err)) {
    drv_report(path, &err);
  } else {
    print_report(path, &o, &r);
    status = r.ok ? 0 : 1;
  }
  pass_gradcheck_report_free(&r);
  ir_module_destroy(m);
  return status;
}

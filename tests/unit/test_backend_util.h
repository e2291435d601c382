/* Helpers shared by the backend's tests: parse a module, run passes, JIT it, and call its
 * entries on buffers the test owns (not the runtime's: the tests set every byte). */
#ifndef TEST_BACKEND_UTIL_H
#define TEST_BACKEND_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "fe.h"
#include "interp.h"
#include "ir.h"
#include "passes.h"

static inline ir_module *tb_parse(const char *text) {
  ir_error err = {0};
  ir_module *m = ir_parse(text, strlen(text), &err);
  cr_assert_not_null(m, "%d:%d: %s\n%s", err.loc.line, err.loc.col, err.msg, text);
  cr_assert(ir_verify_module(m, &err), "%s\n%s", err.msg, text);
  return m;
}

static inline void tb_passes(ir_module *m, const char *pipeline) {
  ir_error err = {0};
  cr_assert(pass_run_pipeline(m, pipeline, NULL, &err), "%s: %s", pipeline, err.msg);
}

/* The module's LLVM IR as text, optimised or as emitted; the caller frees it. */
static inline char *tb_llvm_ir(ir_module *m, bool optimised) {
  ir_error err = {0};
  char *ir = be_llvm_ir_string(m, NULL, optimised, &err);
  cr_assert_not_null(ir, "%s", err.msg);
  return ir;
}

static inline char *tb_read(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  cr_assert(fread(s, 1, (size_t)n, f) == (size_t)n);
  s[n] = '\0';
  fclose(f);
  return s;
}

static inline ir_module *tb_parse_file(const char *path) {
  char *text = tb_read(path);
  ir_module *m = tb_parse(text);
  free(text);
  return m;
}

/* A model file through the frontend, at batch `batch` (0: the file's own). */
static inline ir_module *tb_compile_model(const char *path, int64_t batch) {
  char *src = tb_read(path);
  fe_diagnostics diags;
  fe_diagnostics_init(&diags);
  fe_options fo = {.batch = batch};
  ir_module *m = fe_compile(path, src, strlen(src), &fo, &diags);
  cr_assert_not_null(m, "%s does not compile", path);
  fe_diagnostics_free(&diags);
  free(src);
  return m;
}

static inline be_jit *tb_jit(ir_module *m, const dlc_model_desc **desc) {
  ir_error err = {0};
  be_jit *j = NULL;
  cr_assert(be_jit_compile(m, NULL, &j, desc, &err), "JIT: %s", err.msg);
  return j;
}

/* Buffers for one model, zeroed; 64-byte aligned like the runtime's. */
typedef struct {
  const dlc_model_desc *d;
  void *params, *state, *grads, *scratch, *pred;
  float loss;
  dlc_frame f;
} tb_model;

static inline void *tb_alloc(size_t n) {
  void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
  cr_assert_not_null(p);
  memset(p, 0, (n + 63) / 64 * 64 + 64);
  return p;
}

static inline size_t tb_bytes(const dlc_tensor_desc *t) {
  static const size_t size[] = {4, 8, 4, 8, 1};
  size_t n = size[t->dtype];
  for (int i = 0; i < t->rank; i++) n *= (size_t)t->shape[i];
  return n;
}

static inline void tb_model_init(tb_model *tm, const dlc_model_desc *d) {
  memset(tm, 0, sizeof *tm);
  tm->d = d;
  tm->params = tb_alloc(d->param_bytes);
  tm->grads = tb_alloc(d->param_bytes);
  tm->state = tb_alloc(d->state_bytes);
  tm->scratch = tb_alloc(d->scratch_bytes);
  tm->pred = tb_alloc(tb_bytes(&d->prediction));
}

static inline void tb_model_free(tb_model *tm) {
  free(tm->params);
  free(tm->grads);
  free(tm->state);
  free(tm->scratch);
  free(tm->pred);
}

static inline float tb_call(tb_model *tm, dlc_entry e, const void *const *inputs) {
  cr_assert_not_null(e, "entry missing");
  tm->loss = -12345.0f;
  tm->f = (dlc_frame){.inputs = inputs, .params = tm->params, .state = tm->state,
                      .grads = tm->grads, .scratch = tm->scratch, .loss = &tm->loss,
                      .prediction = tm->pred};
  e(&tm->f);
  return tm->loss;
}

static inline float *tb_param(tb_model *tm, const char *name) {
  for (int i = 0; i < tm->d->nparams; i++)
    if (strcmp(tm->d->params[i].name, name) == 0) return (float *)((char *)tm->params + tm->d->params[i].offset);
  cr_assert_fail("no param %s", name);
  return NULL;
}

static inline float *tb_grad(tb_model *tm, const char *name) {
  for (int i = 0; i < tm->d->nparams; i++)
    if (strcmp(tm->d->params[i].name, name) == 0) return (float *)((char *)tm->grads + tm->d->params[i].offset);
  cr_assert_fail("no param %s", name);
  return NULL;
}

/* Deterministic values in [lo, hi). */
static inline double tb_rand(uint64_t *s, double lo, double hi) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return lo + (hi - lo) * (double)(*s >> 11) * (1.0 / 9007199254740992.0);
}

static inline bool tb_close(double got, double want, double rel, double abs_tol) {
  if (isnan(want)) return isnan(got);
  if (isinf(want)) return got == want;
  return fabs(got - want) <= abs_tol + rel * fabs(want);
}

#endif

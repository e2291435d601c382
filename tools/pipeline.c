/* Model file -> frontend -> passes -> JIT, timed, with the command line's overrides.
 * See pipeline.h. */
#include "pipeline.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver.h"
#include "rt.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *shown_path(const char *path) { return strcmp(path, "-") == 0 ? "<stdin>" : path; }

void pl_report(const pl_model *m, const char *path, const ir_error *err) {
  if (err->loc.line <= 0 || !m || !m->source) {
    drv_report(shown_path(path), err);
    return;
  }
  /* One diagnostic through the frontend's printer: the same look as its own errors. */
  fe_diagnostics d;
  fe_diagnostics_init(&d);
  fe_diag_add(&d, FE_ERROR, shown_path(path), err->loc.line, err->loc.col, 0, 0, "%s", err->msg);
  fe_print_diagnostics(stderr, &d, m->source, m->len);
  fe_diagnostics_free(&d);
}

/* The value text of lr=... in "name(a=1, lr=0.03, b=2)": where it starts and ends. */
static bool find_setting(const char *s, const char *key, const char **vbeg, const char **vend) {
  size_t klen = strlen(key);
  int depth = 0;
  for (const char *p = s; *p; p++) {
    if (*p == '(' || *p == '[') depth++;
    if (*p == ')' || *p == ']') depth--;
    if (depth != 1 || (p[-1] != '(' && p[-1] != ',' && p[-1] != ' ')) continue;
    if (strncmp(p, key, klen) != 0) continue;
    const char *q = p + klen;
    while (*q == ' ') q++;
    if (*q != '=') continue;
    q++;
    while (*q == ' ') q++;
    const char *e = q;
    while (*e && *e != ',' && *e != ')') e++;
    while (e > q && e[-1] == ' ') e--;
    *vbeg = q;
    *vend = e;
    return true;
  }
  return false;
}

char *pl_set_lr(const char *optimizer, const char *lr) {
  const char *open = strchr(optimizer, '(');
  size_t n = strlen(optimizer);
  if (!open) {
    /* a bare name ("adam"): the frontend writes no parentheses when no key is given */
    for (const char *p = optimizer; *p; p++)
      if (!isalnum((unsigned char)*p) && *p != '_') return NULL;
    size_t cap = n + strlen(lr) + 8;
    char *out = n ? malloc(cap) : NULL;
    if (out) snprintf(out, cap, "%s(lr=%s)", optimizer, lr);
    return out;
  }
  if (!open || open == optimizer || n < 2 || optimizer[n - 1] != ')') return NULL;
  for (const char *p = optimizer; p < open; p++)
    if (!isalnum((unsigned char)*p) && *p != '_') return NULL;
  size_t cap = n + strlen(lr) + 8;
  char *out = malloc(cap);
  if (!out) return NULL;
  const char *vb, *ve;
  if (find_setting(optimizer, "lr", &vb, &ve)) {
    snprintf(out, cap, "%.*s%s%s", (int)(vb - optimizer), optimizer, lr, ve);
  } else {
    /* No lr written: it goes first, as the language's canonical order has it. */
    bool empty = open[1] == ')';
    snprintf(out, cap, "%.*slr=%s%s%s", (int)(open + 1 - optimizer), optimizer, lr, empty ? "" : ", ", open + 1);
  }
  return out;
}

bool pl_frontend(const pl_options *o, pl_model *out) {
  memset(out, 0, sizeof *out);
  double t0 = now();
  out->source = drv_read_file(o->path, &out->len);
  if (!out->source) return false;
  double t1 = now();
  out->time.read = t1 - t0;
  fe_diagnostics d;
  fe_diagnostics_init(&d);
  fe_options fo = {.batch = o->batch};
  out->module = fe_compile(shown_path(o->path), out->source, out->len, &fo, &d);
  out->time.frontend = now() - t1;
  /* Warnings are worth seeing even when the model compiles. */
  if (d.count) fe_print_diagnostics(stderr, &d, out->source, out->len);
  fe_diagnostics_free(&d);
  if (!out->module) return false;
  if (o->lr) {
    const char *opt = ir_module_get_meta(out->module, "optimizer");
    char *text = pl_set_lr(opt ? opt : "sgd", o->lr);
    if (!text) {
      fprintf(stderr, "%s: error: cannot set the learning rate: the optimizer setting \"%s\" is not of the form "
                      "NAME(...)\n", shown_path(o->path), opt);
      return false;
    }
    ir_module_set_meta(out->module, "optimizer", text);
    ir_module_set_meta(out->module, "lr", o->lr); /* the frontend's copy of it, kept in step */
    free(text);
  }
  return true;
}

const pass_info pl_backend_passes[] = {
    {"memplan", be_memplan_annotate,
     "liveness, buffer reuse, in-place updates: every buffer and the peak bytes, as meta entries"},
};
const int pl_backend_pass_count = (int)(sizeof pl_backend_passes / sizeof pl_backend_passes[0]);

pass_options pl_pass_options(void) {
  return (pass_options){.verify_each = true, .extra = pl_backend_passes,
                        .nextra = pl_backend_pass_count};
}

bool pl_passes(const pl_options *o, pl_model *m) {
  pass_options def = pl_pass_options();
  ir_error err = {0};
  double t0 = now();
  bool ok = pass_run_pipeline(m->module, o->pipeline ? o->pipeline : PL_DEFAULT_PIPELINE,
                              o->passes ? o->passes : &def, &err);
  m->time.passes = now() - t0;
  if (!ok) pl_report(m, o->path, &err);
  return ok;
}

bool pl_jit(const pl_options *o, pl_model *m) {
  be_options bo = o->backend ? *o->backend : be_options_default();
  bo.timings = &m->time.backend;
  ir_error err = {0};
  if (!be_jit_compile(m->module, &bo, &m->jit, &m->desc, &err)) {
    pl_report(m, o->path, &err);
    return false;
  }
  return true;
}

bool pl_compile(const pl_options *o, pl_model *out) {
  return pl_frontend(o, out) && pl_passes(o, out) && pl_jit(o, out);
}

void pl_free(pl_model *m) {
  if (m->jit) be_jit_destroy(m->jit);
  if (m->module) ir_module_destroy(m->module);
  free(m->source);
  memset(m, 0, sizeof *m);
}

/* ---- the same model at other batch sizes ------------------------------------------ */

void pl_variants_init(pl_variants *v, const pl_options *o, uint64_t seed) {
  memset(v, 0, sizeof *v);
  v->opts = *o;
  v->opts.passes = NULL; /* IR dumps and pass timings were the main model's business */
  v->seed = seed;
}

dlc_model *pl_variant(void *variants, int64_t batch) {
  pl_variants *v = variants;
  for (int i = 0; i < v->n; i++)
    if (v->compiled[i].desc->batch == batch) return v->models[i];
  if (v->n == v->cap) {
    int cap = v->cap ? 2 * v->cap : 4;
    pl_model *c = realloc(v->compiled, (size_t)cap * sizeof *c);
    if (c) v->compiled = c;
    dlc_model **m = realloc(v->models, (size_t)cap * sizeof *m);
    if (m) v->models = m;
    if (!c || !m) {
      rt_set_error("out of memory");
      return NULL;
    }
    v->cap = cap;
  }
  pl_options o = v->opts;
  o.batch = batch;
  double t0 = now();
  pl_model *pm = &v->compiled[v->n];
  if (!pl_compile(&o, pm)) {
    pl_free(pm);
    rt_set_error("could not compile the model for a batch of %lld rows", (long long)batch);
    return NULL;
  }
  dlc_model *model = dlc_create_from(pm->desc, v->seed);
  v->compile_seconds += now() - t0;
  if (!model) {
    pl_free(pm);
    return NULL;
  }
  v->models[v->n++] = model;
  return model;
}

void pl_variants_free(pl_variants *v) {
  for (int i = 0; i < v->n; i++) {
    dlc_destroy(v->models[i]);
    pl_free(&v->compiled[i]);
  }
  free(v->compiled);
  free(v->models);
  memset(v, 0, sizeof *v);
}

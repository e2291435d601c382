/* Gradient checking in f64 with the reference interpreter: for every floating-point
 * parameter, the reverse-mode gradient (@gradients) is compared element by element with
 * central differences of the loss (@forward), and along random directions with the
 * forward-mode derivative (@jvp) and with a central difference along that direction.
 *
 * Non-smooth ops (relu, abs, max, reduce_max) make a difference meaningless where a step
 * crosses a kink; an element that disagrees is therefore tried again with a step 16 times
 * smaller before it counts as a failure. */
#include "gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ad.h"
#include "interp.h"

/* ---- seeded randomness (splitmix64: tiny, and the same on every machine) ------------ */

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double rng_uniform(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }
static double rng_normal(uint64_t *s) {
  double u = rng_uniform(s), v = rng_uniform(s);
  return sqrt(-2 * log(1 - u)) * cos(6.283185307179586 * v);
}

void pass_gradcheck_defaults(pass_gradcheck_options *o) {
  if (o->eps <= 0) o->eps = 1e-6;
  if (o->tol <= 0) o->tol = 1e-6;
  if (o->samples < 0) o->samples = 0;
  if (o->directions <= 0) o->directions = 2;
}

/* |a - b| scaled so that tol works as an absolute tolerance near 0 and a relative one
 * for large values; NaN stays NaN so it never passes. */
static double scaled_err(double a, double b) {
  double s = fmax(1, fmax(fabs(a), fabs(b)));
  return fabs(a - b) / s;
}
static void keep_max(double *m, double v) {
  if (!(v <= *m)) *m = v; /* NaN wins */
}

/* ---- the random point ---------------------------------------------------------------- */

/* The number of distinct labels an integer argument may take: the depth of a one_hot or
 * the gathered axis it indexes (through layout ops and casts), the smallest if several. */
static int64_t label_range(const ir_func *f, const ir_node *v, int depth) {
  int64_t best = 0;
  for (int i = 0; i < f->nbody && depth < 8; i++) {
    const ir_node *n = f->body[i];
    for (int j = 0; j < n->nargs; j++) {
      if (n->args[j] != v) continue;
      int64_t r = 0;
      if (n->op == IR_OP_ONE_HOT) r = n->type.dims[n->type.rank - 1];
      else if (n->op == IR_OP_GATHER && j == 1) r = n->args[0]->type.dims[n->attrs.axis];
      else if (ir_ops[n->op].kind == IR_KIND_LAYOUT || n->op == IR_OP_CAST) r = label_range(f, n, depth + 1);
      if (r > 0 && (best == 0 || r < best)) best = r;
    }
  }
  return best;
}

static void fill_arg(const ir_func *f, const ir_node *a, double *x, uint64_t *rng) {
  int64_t count = ir_type_numel(&a->type);
  const ir_type *t = &a->type;
  if (t->dtype == IR_BOOL) {
    for (int64_t i = 0; i < count; i++) x[i] = (double)(rng_next(rng) & 1);
  } else if (!ir_dtype_is_float(t->dtype)) {
    int64_t range = label_range(f, a, 0);
    if (range <= 0) range = 2;
    for (int64_t i = 0; i < count; i++) x[i] = (double)(rng_next(rng) % (uint64_t)range);
  } else {
    double scale = a->op == IR_OP_PARAM && t->rank >= 2 ? 1 / sqrt((double)t->dims[t->rank - 2]) : 1;
    for (int64_t i = 0; i < count; i++) x[i] = (2 * rng_uniform(rng) - 1) * scale;
  }
}

/* ---- the check ------------------------------------------------------------------------- */

typedef struct {
  ir_interp *fwd, *grad, *jvp;
  ir_error *err;
} evaluators;

static bool loss_at(evaluators *ev, double *loss) {
  if (!ir_interp_run(ev->fwd, ev->err)) return false;
  *loss = ir_interp_output(ev->fwd, "loss", NULL)[0];
  return true;
}

/* Central difference of the loss along v (NULL: the unit vector of element `at`). */
static bool central(evaluators *ev, double *p, int64_t count, int64_t at, const double *v,
                    double eps, double *out) {
  double *saved = malloc((size_t)count * sizeof *saved), lp = 0, lm = 0;
  IR_ASSERT(saved != NULL);
  memcpy(saved, p, (size_t)count * sizeof *p);
  bool ok = true;
  for (int side = 0; side < 2 && ok; side++) {
    double h = side == 0 ? eps : -eps;
    if (v)
      for (int64_t i = 0; i < count; i++) p[i] = saved[i] + h * v[i];
    else
      p[at] = saved[at] + h;
    ok = loss_at(ev, side == 0 ? &lp : &lm);
    memcpy(p, saved, (size_t)count * sizeof *p);
  }
  free(saved);
  *out = ok ? (lp - lm) / (2 * eps) : 0;
  return ok;
}

static bool check_param(evaluators *ev, const ir_node *param, const pass_gradcheck_options *o,
                        uint64_t *rng, pass_gradcheck_param *r) {
  int64_t count = ir_type_numel(&param->type);
  char name[512];
  snprintf(name, sizeof name, "grad.%s", param->name);
  const double *gv = ir_interp_output(ev->grad, name, NULL);
  if (!gv) {
    ir_error_set(ev->err, (ir_loc){0}, "@%s has no output '%s'", "gradients", name);
    return false;
  }
  double *grad = malloc((size_t)(count ? count : 1) * sizeof *grad);
  int64_t *order = malloc((size_t)(count ? count : 1) * sizeof *order);
  double *v = malloc((size_t)(count ? count : 1) * sizeof *v);
  IR_ASSERT(grad && order && v);
  memcpy(grad, gv, (size_t)count * sizeof *grad);
  double *p = ir_interp_arg(ev->fwd, param->name);

  /* Finite differences on a random subset (a partial Fisher-Yates shuffle). */
  int64_t n = o->samples == 0 || o->samples >= count ? count : o->samples;
  for (int64_t i = 0; i < count; i++) order[i] = i;
  bool ok = true;
  r->ok = true;
  for (int64_t k = 0; k < n && ok; k++) {
    int64_t j = k + (int64_t)(rng_next(rng) % (uint64_t)(count - k)), at = order[j];
    order[j] = order[k];
    order[k] = at;
    double fd;
    ok = central(ev, p, count, at, NULL, o->eps, &fd);
    if (ok && !(scaled_err(grad[at], fd) <= o->tol)) ok = central(ev, p, count, at, NULL, o->eps / 16, &fd);
    if (!ok) break;
    double diff = fabs(grad[at] - fd), big = fmax(fabs(grad[at]), fabs(fd));
    keep_max(&r->max_abs, diff);
    keep_max(&r->max_rel, big > 0 ? diff / big : diff);
    if (!(scaled_err(grad[at], fd) <= o->tol)) r->ok = false;
    r->checked++;
  }

  /* Directional derivatives: JVP against <grad, v> and against a difference along v. */
  snprintf(name, sizeof name, "tangent.%s", param->name);
  double *t = ir_interp_arg(ev->jvp, name);
  if (ok && !t) {
    ir_error_set(ev->err, (ir_loc){0}, "the JVP function has no argument %%%s", name);
    ok = false;
  }
  for (int d = 0; d < o->directions && ok; d++) {
    double dot = 0, fd;
    for (int64_t i = 0; i < count; i++) {
      v[i] = rng_normal(rng);
      dot += grad[i] * v[i];
    }
    memcpy(t, v, (size_t)count * sizeof *v);
    ok = ir_interp_run(ev->jvp, ev->err) && central(ev, p, count, 0, v, o->eps, &fd);
    memset(t, 0, (size_t)count * sizeof *t);
    if (!ok) break;
    double dl = ir_interp_output(ev->jvp, "dloss", NULL)[0];
    if (!(scaled_err(dl, fd) <= o->tol)) {
      ok = central(ev, p, count, 0, v, o->eps / 16, &fd);
      if (!ok) break;
    }
    keep_max(&r->jvp_err, scaled_err(dl, dot));
    keep_max(&r->jvp_fd_err, scaled_err(dl, fd));
  }
  if (!(r->jvp_err <= o->tol) || !(r->jvp_fd_err <= o->tol)) r->ok = false;
  free(grad);
  free(order);
  free(v);
  return ok;
}

/* The function to check: @forward, else the first one autodiff would differentiate. */
static ir_func *loss_func(const ir_module *m) {
  ir_func *f = ir_module_find_func(m, "forward");
  if (f && ad_is_loss_func(f)) return f;
  for (int i = 0; i < m->nfuncs; i++)
    if (ad_is_loss_func(m->funcs[i])) return m->funcs[i];
  return NULL;
}

/* The derived function named `base` from f: found in m, or built with its pass's rules. */
static ir_func *derived(ir_module *m, const ir_func *f, const char *base, ir_error *err) {
  const char *name = ad_derived_name(m, f, base);
  ir_func *d = ir_module_find_func(m, name);
  if (!d) {
    d = strcmp(base, "gradients") == 0 ? ad_build_gradients(m, f, name, ad_vjp_rules(), err)
                                       : ad_build_jvp(m, f, name, ad_jvp_rules(), err);
    if (!d) return NULL;
  }
  return ir_verify_func(d, err) ? d : NULL;
}

static bool copy_args(const ir_func *f, ir_interp *from, ir_interp *to, ir_error *err) {
  for (int i = 0; i < f->nargs; i++) {
    const ir_node *a = f->args[i];
    if (!ir_interp_set_arg(to, a->name, ir_interp_arg(from, a->name), ir_type_numel(&a->type), err))
      return false;
  }
  return true;
}

bool pass_gradcheck(ir_module *m, const pass_gradcheck_options *opts, pass_gradcheck_init init,
                    void *ctx, pass_gradcheck_report *report, ir_error *err) {
  pass_gradcheck_options o = opts ? *opts : (pass_gradcheck_options){0};
  pass_gradcheck_defaults(&o);
  memset(report, 0, sizeof *report);
  ir_func *f = loss_func(m);
  if (!f) {
    ir_error_set(err, (ir_loc){0}, "no function to check: none has an output 'loss' (and no updates)");
    return false;
  }
  ir_func *g = derived(m, f, "gradients", err), *j = g ? derived(m, f, "jvp", err) : NULL;
  if (!g || !j) return false;

  evaluators ev = {ir_interp_create(f), ir_interp_create(g), ir_interp_create(j), err};
  if (!ev.fwd || !ev.grad || !ev.jvp) {
    ir_interp_destroy(ev.fwd);
    ir_interp_destroy(ev.grad);
    ir_interp_destroy(ev.jvp);
    double elements = 0;
    for (int i = 0; i < f->nargs; i++) elements += (double)ir_type_numel(&f->args[i]->type);
    ir_error_set(err, (ir_loc){0},
                 "out of memory: the check holds @%s's arguments in f64 for three functions, %.3g bytes",
                 f->name, 3 * 8 * elements);
    return false;
  }
  uint64_t rng = o.seed ^ 0x6A09E667F3BCC909ull;
  for (int i = 0; i < f->nargs; i++) {
    const ir_node *a = f->args[i];
    double *x = ir_interp_arg(ev.fwd, a->name);
    fill_arg(f, a, x, &rng);
    if (init) init(ctx, a->name, &a->type, x);
  }
  report->func = f->name;
  report->ok = true;
  bool ok = copy_args(f, ev.fwd, ev.grad, err) && copy_args(f, ev.fwd, ev.jvp, err) &&
            ir_interp_run(ev.grad, err) && loss_at(&ev, &report->loss);
  if (ok) {
    /* The derived function recomputes the loss: it must be the forward one. */
    report->loss_err = scaled_err(ir_interp_output(ev.grad, "loss", NULL)[0], report->loss);
    if (!(report->loss_err <= o.tol)) report->ok = false;
  }
  report->params = calloc((size_t)(f->nargs ? f->nargs : 1), sizeof *report->params);
  IR_ASSERT(report->params != NULL);
  for (int i = 0; i < f->nargs && ok; i++) {
    const ir_node *a = f->args[i];
    if (a->op != IR_OP_PARAM || !ir_dtype_is_float(a->type.dtype)) continue;
    pass_gradcheck_param *r = &report->params[report->nparams++];
    r->name = a->name;
    r->type = a->type;
    ok = check_param(&ev, a, &o, &rng, r);
    report->ok = report->ok && r->ok;
  }
  ir_interp_destroy(ev.fwd);
  ir_interp_destroy(ev.grad);
  ir_interp_destroy(ev.jvp);
  if (!ok) report->ok = false;
  return ok;
}

void pass_gradcheck_report_free(pass_gradcheck_report *r) {
  free(r->params);
  r->params = NULL;
  r->nparams = 0;
}

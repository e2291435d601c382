/* optimizer: lowers the model's update rule into IR, so a training step is one function
 * whose update is fused with the gradient that feeds it.
 *
 * From @gradients (outputs `loss` and `grad.<p>` for every PARAM p) and the meta entry
 * `optimizer` (e.g. "sgd(lr=0.1, momentum=0.9, nesterov=true, weight_decay=1e-4)",
 * "adam(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)") it adds
 *   @apply       INPUT grad.<p> (param order), the PARAMs, the STATE args; the update rule;
 *                `update` lines for every param and state (the half that runs after an
 *                allreduce in data-parallel training);
 *   @train_step  @gradients with the same rule appended: output `loss` (and any other
 *                non-gradient output), state args added, `update` lines.
 * Optimiser state is just more arguments (STATE, initialised to zeros: meta
 * `init.<state>` = "zeros"): momentum buffers `m.<p>`, Adam's `m.<p>`, `v.<p>` (and
 * `vmax.<p>` with amsgrad), and a scalar f32 step count `step` shared by all params.
 *
 * Semantics are PyTorch 1.13's torch.optim.SGD, Adam and AdamW, term by term:
 *   SGD   g += wd·p;  b = μ·b + (1−τ)·g;  g = nesterov ? g + μ·b : b;  p −= lr·g
 *         PyTorch sets b = g on the first step instead of damping it. With b starting at
 *         zero, μ·0 + g = g already, so without dampening (τ = 0, the default) the
 *         zero-initialised buffer reproduces that exactly and needs no step count. With
 *         dampening the step count picks the coefficient without control flow:
 *         b = μ·b + (1 − τ·min(step, 1))·g, which is g on step 0 and (1−τ)·g after.
 *   Adam  g += wd·p;  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  t = step + 1;
 *         p −= (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + eps)    (amsgrad: v → max(vmax, v))
 *   AdamW as Adam without wd in g, and p·(1 − lr·wd) in place of p.
 * Defaults are PyTorch's (SGD has no default learning rate there, so none here either).
 *
 * require: @gradients (run autodiff first). */
#include "passes.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- the optimiser spec ----------------------------------------------------------- */

typedef struct {
  double lr, momentum, dampening, weight_decay, beta1, beta2, eps;
  double nesterov, amsgrad; /* booleans, 0 or 1 */
} opt_hparams;

typedef struct {
  const char *key;
  size_t offset;  /* into opt_hparams */
  double def;     /* NAN: no default, the spec must give it */
  bool is_bool;
} opt_key;

#define HP(field) offsetof(opt_hparams, field)

static const opt_key sgd_keys[] = {
    {"lr", HP(lr), NAN, false},           {"momentum", HP(momentum), 0, false},
    {"dampening", HP(dampening), 0, false}, {"weight_decay", HP(weight_decay), 0, false},
    {"nesterov", HP(nesterov), 0, true},  {NULL, 0, 0, false},
};
static const opt_key adam_keys[] = {
    {"lr", HP(lr), 1e-3, false},          {"beta1", HP(beta1), 0.9, false},
    {"beta2", HP(beta2), 0.999, false},   {"eps", HP(eps), 1e-8, false},
    {"weight_decay", HP(weight_decay), 0, false}, {"amsgrad", HP(amsgrad), 0, true},
    {NULL, 0, 0, false},
};
static const opt_key adamw_keys[] = {
    {"lr", HP(lr), 1e-3, false},          {"beta1", HP(beta1), 0.9, false},
    {"beta2", HP(beta2), 0.999, false},   {"eps", HP(eps), 1e-8, false},
    {"weight_decay", HP(weight_decay), 1e-2, false}, {"amsgrad", HP(amsgrad), 0, true},
    {NULL, 0, 0, false},
};

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW } opt_kind;

static const struct {
  const char *name;
  opt_kind kind;
  const opt_key *keys;
} optimizers[] = {
    {"sgd", OPT_SGD, sgd_keys},
    {"adam", OPT_ADAM, adam_keys},
    {"adamw", OPT_ADAMW, adamw_keys},
};
#define NOPTIMIZERS ((int)(sizeof optimizers / sizeof optimizers[0]))

typedef struct {
  opt_kind kind;
  opt_hparams h;
} opt_spec;

static double *hp_field(opt_hparams *h, const opt_key *k) {
  return (double *)((char *)h + k->offset);
}

static const char *skip_space(const char *s) {
  while (isspace((unsigned char)*s)) s++;
  return s;
}

/* A word: letters, digits and '_'. Returns its end. */
static const char *scan_word(const char *s) {
  while (isalnum((unsigned char)*s) || *s == '_') s++;
  return s;
}

static bool word_is(const char *s, size_t len, const char *w) {
  if (strlen(w) != len) return false;
  for (size_t i = 0; i < len; i++)
    if (tolower((unsigned char)s[i]) != w[i]) return false;
  return true;
}

static void list_keys(const opt_key *keys, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (const opt_key *k = keys; k->key && used < size; k++)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", k == keys ? "" : ", ", k->key);
}

static bool parse_value(const opt_key *k, const char *s, size_t len, double *out) {
  if (k->is_bool) {
    if (word_is(s, len, "true") || (len == 1 && s[0] == '1')) *out = 1;
    else if (word_is(s, len, "false") || (len == 1 && s[0] == '0')) *out = 0;
    else return false;
    return true;
  }
  char tmp[64];
  if (len == 0 || len >= sizeof tmp) return false;
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  char *end;
  *out = strtod(tmp, &end);
  return *end == '\0' && isfinite(*out);
}

/* spec = name [ "(" [ key "=" value { "," key "=" value } ] ")" ] */
static bool parse_spec(const char *spec, opt_spec *out, ir_error *err) {
  const ir_loc noloc = {0, 0};
  const char *s = skip_space(spec), *name = s;
  s = scan_word(s);
  int which = -1;
  for (int i = 0; i < NOPTIMIZERS; i++)
    if (word_is(name, (size_t)(s - name), optimizers[i].name)) which = i;
  if (which < 0) {
    ir_error_set(err, noloc, "optimizer \"%s\": unknown optimiser '%.*s' (dlc knows sgd, adam, adamw)",
                 spec, (int)(s - name), name);
    return false;
  }
  const opt_key *keys = optimizers[which].keys;
  out->kind = optimizers[which].kind;
  bool given[16] = {false};
  for (const opt_key *k = keys; k->key; k++) *hp_field(&out->h, k) = k->def;

  s = skip_space(s);
  if (*s == '(') {
    s = skip_space(s + 1);
    while (*s != ')') {
      if (!*s) {
        ir_error_set(err, noloc, "optimizer \"%s\": missing ')'", spec);
        return false;
      }
      const char *key = s;
      s = scan_word(s);
      size_t klen = (size_t)(s - key);
      const opt_key *k = keys;
      while (k->key && !word_is(key, klen, k->key)) k++;
      if (!k->key) {
        char known[128];
        list_keys(keys, known, sizeof known);
        ir_error_set(err, noloc, "optimizer \"%s\": %s takes no parameter '%.*s' (it takes %s)",
                     spec, optimizers[which].name, (int)klen, key, known);
        return false;
      }
      s = skip_space(s);
      if (*s != '=') {
        ir_error_set(err, noloc, "optimizer \"%s\": expected '=' after '%s'", spec, k->key);
        return false;
      }
      const char *val = skip_space(s + 1);
      s = val;
      while (*s && *s != ',' && *s != ')') s++;
      size_t vlen = (size_t)(s - val);
      while (vlen && isspace((unsigned char)val[vlen - 1])) vlen--;
      if (given[k - keys]) {
        ir_error_set(err, noloc, "optimizer \"%s\": '%s' is given twice", spec, k->key);
        return false;
      }
      if (!parse_value(k, val, vlen, hp_field(&out->h, k))) {
        ir_error_set(err, noloc, "optimizer \"%s\": '%s' needs %s, got '%.*s'", spec, k->key,
                     k->is_bool ? "true or false" : "a finite number", (int)vlen, val);
        return false;
      }
      given[k - keys] = true;
      if (*s == ',') s = skip_space(s + 1);
      else if (*s != ')') {
        ir_error_set(err, noloc, "optimizer \"%s\": missing ')'", spec);
        return false;
      }
    }
    s = skip_space(s + 1);
  }
  if (*s) {
    ir_error_set(err, noloc, "optimizer \"%s\": unexpected '%s' after the parameters", spec, s);
    return false;
  }
  for (const opt_key *k = keys; k->key; k++) {
    if (isnan(*hp_field(&out->h, k))) {
      ir_error_set(err, noloc, "optimizer \"%s\": %s needs '%s' (it has no default)", spec,
                   optimizers[which].name, k->key);
      return false;
    }
  }
  return true;
}

/* PyTorch's own argument checks, with its wording where it has one. */
static bool check_spec(const char *spec, const opt_spec *o, ir_error *err) {
  const ir_loc noloc = {0, 0};
  const opt_hparams *h = &o->h;
  const char *bad = NULL;
  if (h->lr < 0) bad = "invalid learning rate (lr must be >= 0)";
  else if (h->weight_decay < 0) bad = "invalid weight_decay value (must be >= 0)";
  else if (o->kind == OPT_SGD && h->momentum < 0) bad = "invalid momentum value (must be >= 0)";
  else if (o->kind == OPT_SGD && h->nesterov && (h->momentum <= 0 || h->dampening != 0))
    bad = "Nesterov momentum requires a momentum and zero dampening";
  else if (o->kind != OPT_SGD && h->eps < 0) bad = "invalid epsilon value (eps must be >= 0)";
  else if (o->kind != OPT_SGD && (h->beta1 < 0 || h->beta1 >= 1))
    bad = "invalid beta1 (must be in [0, 1))";
  else if (o->kind != OPT_SGD && (h->beta2 < 0 || h->beta2 >= 1))
    bad = "invalid beta2 (must be in [0, 1))";
  if (bad) ir_error_set(err, noloc, "optimizer \"%s\": %s", spec, bad);
  return bad == NULL;
}

/* ---- state ---------------------------------------------------------------------------- */

/* Per-parameter state, by name prefix, in the order the state args appear. */
typedef enum { ST_M, ST_V, ST_VMAX, ST_COUNT } state_slot;
static const char *const state_prefix[ST_COUNT] = {IR_STATE_PREFIX "m.", IR_STATE_PREFIX "v.", IR_STATE_PREFIX "vmax."};

static bool uses_slot(const opt_spec *o, state_slot s) {
  switch (s) {
  case ST_M: return o->kind != OPT_SGD || o->h.momentum != 0;
  case ST_V: return o->kind != OPT_SGD;
  case ST_VMAX: return o->kind != OPT_SGD && o->h.amsgrad;
  default: return false;
  }
}

static bool uses_step(const opt_spec *o) {
  return o->kind != OPT_SGD || (o->h.momentum != 0 && o->h.dampening != 0);
}

/* One parameter as the update rule sees it in the function being built. */
typedef struct {
  ir_node *param, *grad;
  ir_node *state[ST_COUNT]; /* STATE args, NULL where unused */
} opt_param;

/* What the rule shares across parameters: scalars of the step count, emitted once per
 * function in f32 (the step count's dtype) and cast to each parameter's dtype. */
typedef struct {
  ir_node *step;       /* STATE f32[], or NULL */
  ir_node *next_step;  /* t = step + 1 */
  ir_node *damping;    /* SGD: 1 − τ·min(step, 1) */
  ir_node *step_size;  /* Adam: lr / (1 − β1^t) */
  ir_node *bc2_sqrt;   /* Adam: √(1 − β2^t) */
} opt_shared;

/* ---- emitting the rule ------------------------------------------------------------------- */

/* A splat constant shaped like `like` (the update's operands all share its shape). */
static ir_node *k_like(ir_func *f, const ir_node *like, double v) {
  return ir_emit_const(f, like->type, v);
}

static ir_node *k_scalar(ir_func *f, double v) { return ir_emit_const(f, ir_type_scalar(IR_F32), v); }

static ir_node *add(ir_func *f, ir_node *a, ir_node *b) { return ir_emit_binary(f, IR_OP_ADD, a, b); }
static ir_node *sub(ir_func *f, ir_node *a, ir_node *b) { return ir_emit_binary(f, IR_OP_SUB, a, b); }
static ir_node *mul(ir_func *f, ir_node *a, ir_node *b) { return ir_emit_binary(f, IR_OP_MUL, a, b); }
static ir_node *dvd(ir_func *f, ir_node *a, ir_node *b) { return ir_emit_binary(f, IR_OP_DIV, a, b); }

/* x·c as a splat of x's shape. */
static ir_node *scale(ir_func *f, ir_node *x, double c) { return mul(f, x, k_like(f, x, c)); }

/* 1 − c as the decimal a person means: 1 − 0.9 is 0.09999999999999998 in f64 and prints
 * so; written 0.1 it differs by one f64 ulp, far below what an f32 parameter holds. */
static double one_minus(double c) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.15g", 1 - c);
  return strtod(buf, NULL);
}

/* 1 − β^t */
static ir_node *bias_correction(ir_func *f, double beta, ir_node *t) {
  return sub(f, k_scalar(f, 1), ir_emit_binary(f, IR_OP_POW, k_scalar(f, beta), t));
}

static void emit_shared(ir_func *f, const opt_spec *o, opt_shared *sh) {
  const opt_hparams *h = &o->h;
  if (!sh->step) return;
  sh->next_step = add(f, sh->step, k_scalar(f, 1));
  if (o->kind == OPT_SGD) {
    /* Undamped on the first step, as PyTorch's b = g. */
    ir_node *first = ir_emit_binary(f, IR_OP_MIN, sh->step, k_scalar(f, 1));
    sh->damping = sub(f, k_scalar(f, 1), mul(f, k_scalar(f, h->dampening), first));
  } else {
    sh->step_size = dvd(f, k_scalar(f, h->lr), bias_correction(f, h->beta1, sh->next_step));
    sh->bc2_sqrt = ir_emit_unary(f, IR_OP_SQRT, bias_correction(f, h->beta2, sh->next_step));
  }
}

static void emit_sgd(ir_func *f, const opt_hparams *h, const opt_shared *sh, opt_param *p) {
  ir_node *g = p->grad;
  if (h->weight_decay != 0) g = add(f, g, scale(f, p->param, h->weight_decay));
  if (h->momentum != 0) {
    ir_node *buf = p->state[ST_M], *gd = g;
    if (sh->damping) gd = mul(f, g, ir_emit_cast(f, sh->damping, g->type.dtype));
    ir_node *nb = add(f, scale(f, buf, h->momentum), gd);
    ir_func_add_update(f, buf, nb);
    g = h->nesterov ? add(f, g, scale(f, nb, h->momentum)) : nb;
  }
  ir_func_add_update(f, p->param, sub(f, p->param, scale(f, g, h->lr)));
}

static void emit_adam(ir_func *f, const opt_spec *o, const opt_shared *sh, opt_param *p) {
  const opt_hparams *h = &o->h;
  ir_dtype dt = p->param->type.dtype;
  ir_node *g = p->grad, *base = p->param;
  bool decoupled = o->kind == OPT_ADAMW;
  if (h->weight_decay != 0 && !decoupled) g = add(f, g, scale(f, p->param, h->weight_decay));
  if (h->weight_decay != 0 && decoupled) base = scale(f, p->param, one_minus(h->lr * h->weight_decay));

  ir_node *m = add(f, scale(f, p->state[ST_M], h->beta1), scale(f, g, one_minus(h->beta1)));
  ir_node *v = add(f, scale(f, p->state[ST_V], h->beta2), scale(f, mul(f, g, g), one_minus(h->beta2)));
  ir_func_add_update(f, p->state[ST_M], m);
  ir_func_add_update(f, p->state[ST_V], v);
  if (h->amsgrad) {
    v = ir_emit_binary(f, IR_OP_MAX, p->state[ST_VMAX], v);
    ir_func_add_update(f, p->state[ST_VMAX], v);
  }
  /* p − step_size · m / (√v / √(1 − β2^t) + eps), in PyTorch's order of operations */
  ir_node *denom = add(f, dvd(f, ir_emit_unary(f, IR_OP_SQRT, v), ir_emit_cast(f, sh->bc2_sqrt, dt)),
                       k_like(f, v, h->eps));
  ir_node *step = mul(f, dvd(f, m, denom), ir_emit_cast(f, sh->step_size, dt));
  ir_func_add_update(f, p->param, sub(f, base, step));
}

/* Adds the state args to f (grouped by kind, then the step count), and emits the rule
 * for every parameter; params[i].param and .grad are set by the caller. */
static void emit_rule(ir_func *f, const opt_spec *o, opt_param *params, int nparams) {
  char name[256];
  for (int s = 0; s < ST_COUNT; s++) {
    if (!uses_slot(o, (state_slot)s)) continue;
    for (int i = 0; i < nparams; i++) {
      snprintf(name, sizeof name, "%s%s", state_prefix[s], params[i].param->name);
      params[i].state[s] = ir_func_add_arg(f, IR_OP_STATE, name, params[i].param->type);
    }
  }
  opt_shared sh = {0};
  if (uses_step(o)) sh.step = ir_func_add_arg(f, IR_OP_STATE, IR_STEP_COUNTER, ir_type_scalar(IR_F32));
  emit_shared(f, o, &sh);
  for (int i = 0; i < nparams; i++) {
    if (o->kind == OPT_SGD) emit_sgd(f, &o->h, &sh, &params[i]);
    else emit_adam(f, o, &sh, &params[i]);
  }
  if (sh.step) ir_func_add_update(f, sh.step, sh.next_step);
}

/* ---- building @apply and @train_step ------------------------------------------------------- */

static bool is_grad_output(const char *name) { return strncmp(name, "grad.", 5) == 0; }

/* Copies src's arguments and body into a new function `name` (outputs and updates are the
 * caller's); map[id in src] receives each copy. */
static ir_func *clone_body(ir_module *m, const ir_func *src, const char *name, ir_node **map) {
  ir_func *f = ir_func_create(m, name);
  for (int i = 0; i < src->nargs; i++) {
    const ir_node *a = src->args[i];
    map[a->id] = ir_func_add_arg(f, a->op, a->name, a->type);
    map[a->id]->loc = a->loc;
  }
  ir_node *args[16];
  for (int i = 0; i < src->nbody; i++) {
    const ir_node *n = src->body[i];
    ir_node **ops = n->nargs <= 16 ? args : malloc((size_t)n->nargs * sizeof *ops);
    IR_ASSERT(ops != NULL);
    for (int j = 0; j < n->nargs; j++) ops[j] = map[n->args[j]->id];
    f->loc = n->loc;
    ir_node *c = ir_emit(f, n->op, ops, n->nargs, &n->attrs, &n->type);
    c->name = n->name;
    c->kernel = n->kernel;
    map[n->id] = c;
    if (ops != args) free(ops);
  }
  f->loc = (ir_loc){0, 0};
  return f;
}

static bool collect_params(const ir_func *grads, ir_node **params, ir_node **gvals, int *nparams,
                           ir_error *err) {
  const ir_loc noloc = {0, 0};
  int n = 0;
  for (int i = 0; i < grads->nargs; i++) {
    ir_node *a = grads->args[i];
    if (a->op == IR_OP_STATE) {
      ir_error_set(err, noloc, "@gradients already has optimiser state (%%%s)", a->name);
      return false;
    }
    if (a->op != IR_OP_PARAM) continue;
    char out[256];
    snprintf(out, sizeof out, "grad.%s", a->name);
    ir_node *g = ir_func_find_output(grads, out);
    if (!g) {
      ir_error_set(err, noloc, "@gradients has no output '%s' for parameter %%%s", out, a->name);
      return false;
    }
    if (!ir_type_equal(&g->type, &a->type)) {
      char ta[IR_TYPE_STR_MAX], tg[IR_TYPE_STR_MAX];
      ir_error_set(err, noloc, "@gradients: '%s' is %s but parameter %%%s is %s", out,
                   ir_type_str(&g->type, tg, sizeof tg), a->name, ir_type_str(&a->type, ta, sizeof ta));
      return false;
    }
    if (!ir_dtype_is_float(a->type.dtype)) {
      ir_error_set(err, noloc, "parameter %%%s is %s: only floating-point parameters can be trained",
                   a->name, ir_dtype_name(a->type.dtype));
      return false;
    }
    params[n] = a;
    gvals[n] = g;
    n++;
  }
  *nparams = n;
  if (n == 0) ir_error_set(err, noloc, "@gradients has no parameters to optimise");
  return n > 0;
}

/* State names must not collide with the function's own arguments. */
static bool check_state_names(const ir_func *grads, const opt_spec *o, ir_node **params,
                              int nparams, ir_error *err) {
  char name[256];
  for (int s = 0; s <= ST_COUNT; s++) {
    bool step_count = s == ST_COUNT; /* the last round checks the step count */
    if (step_count ? !uses_step(o) : !uses_slot(o, (state_slot)s)) continue;
    for (int i = 0; i < (step_count ? 1 : nparams); i++) {
      if (step_count) snprintf(name, sizeof name, IR_STEP_COUNTER);
      else snprintf(name, sizeof name, "%s%s", state_prefix[s], params[i]->name);
      if (ir_func_find_arg(grads, name)) {
        ir_error_set(err, (ir_loc){0, 0},
                     "an argument of @gradients is named %%%s, a name the optimiser gives its own state: "
                     "rename it", name);
        return false;
      }
    }
  }
  return true;
}

static void add_state_meta(ir_module *m, const ir_func *apply) {
  char key[300];
  for (int i = 0; i < apply->nargs; i++) {
    if (apply->args[i]->op != IR_OP_STATE) continue;
    snprintf(key, sizeof key, "init.%s", apply->args[i]->name);
    ir_module_set_meta(m, key, "zeros");
  }
}

bool pass_optimizer(ir_module *m, ir_error *err) {
  const ir_loc noloc = {0, 0};
  const ir_func *grads = ir_module_find_func(m, "gradients");
  if (!grads) {
    ir_error_set(err, noloc, "the optimizer pass needs @gradients: run autodiff first");
    return false;
  }
  if (ir_module_find_func(m, "apply") || ir_module_find_func(m, "train_step")) {
    ir_error_set(err, noloc, "the module already has @apply or @train_step (optimizer ran twice?)");
    return false;
  }
  const char *spec = ir_module_get_meta(m, "optimizer");
  if (!spec) {
    ir_error_set(err, noloc, "the model has no optimizer: add a line `optimizer sgd(lr = 0.01)` to the model file "
                             "(in IR, `meta optimizer = \"sgd(lr=0.01)\"`)");
    return false;
  }
  opt_spec o = {0};
  if (!parse_spec(spec, &o, err) || !check_spec(spec, &o, err)) return false;

  int nparams = 0;
  ir_node **params = malloc((size_t)(grads->nargs + 1) * sizeof *params);
  ir_node **gvals = malloc((size_t)(grads->nargs + 1) * sizeof *gvals);
  opt_param *ps = calloc((size_t)(grads->nargs + 1), sizeof *ps);
  ir_node **map = calloc((size_t)(grads->next_id + 1), sizeof *map);
  IR_ASSERT(params && gvals && ps && map);
  bool ok = collect_params(grads, params, gvals, &nparams, err) &&
            check_state_names(grads, &o, params, nparams, err);
  if (ok) {
    /* @apply: gradients come in as inputs. */
    ir_func *apply = ir_func_create(m, "apply");
    char name[256];
    for (int i = 0; i < nparams; i++) {
      snprintf(name, sizeof name, "grad.%s", params[i]->name);
      ps[i] = (opt_param){.grad = ir_func_add_arg(apply, IR_OP_INPUT, name, params[i]->type)};
    }
    for (int i = 0; i < nparams; i++)
      ps[i].param = ir_func_add_arg(apply, IR_OP_PARAM, params[i]->name, params[i]->type);
    emit_rule(apply, &o, ps, nparams);
    add_state_meta(m, apply);

    /* @train_step: the gradient computation itself, the rule appended. */
    ir_func *step = clone_body(m, grads, "train_step", map);
    for (int i = 0; i < grads->noutputs; i++)
      if (!is_grad_output(grads->outputs[i].name))
        ir_func_add_output(step, grads->outputs[i].name, map[grads->outputs[i].value->id]);
    for (int i = 0; i < nparams; i++)
      ps[i] = (opt_param){.param = map[params[i]->id], .grad = map[gvals[i]->id]};
    emit_rule(step, &o, ps, nparams);
  }
  free(params);
  free(gvals);
  free(ps);
  free(map);
  return ok;
}

/* simplify: removes what a person would remove by hand from a graph that passes (above
 * all autodiff) wrote mechanically: constant folding, algebraic and layout identities,
 * common subexpressions, dead code. Each rewrite is a small named function (see
 * simplify.h and the list below); the driver applies them to every node, merges equal
 * nodes, drops dead ones, and repeats until a sweep changes nothing.
 *
 * require: nothing; shapes may still broadcast implicitly (rewrites fit their results
 * to the node they replace). */
#include "passes.h"
#include "simplify.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Tried in this order on every node; the first that applies wins. */
const simp_rule simp_rules[] = {
    {"fold-constants", simp_fold_constants},     /* op(splat, splat) → splat */
    {"const-splat", simp_const_splat},           /* const [v, v, v] → const v */
    {"mul-one", simp_mul_one},                   /* x·1 → x */
    {"mul-zero", simp_mul_zero},                 /* x·0 → 0 (finite x) */
    {"mul-minus-one", simp_mul_minus_one},       /* x·(−1) → −x */
    {"add-zero", simp_add_zero},                 /* x+0 → x */
    {"sub-zero", simp_sub_zero},                 /* x−0 → x */
    {"zero-sub", simp_zero_sub},                 /* 0−x → −x */
    {"div-one", simp_div_one},                   /* x/1 → x */
    {"sub-self", simp_sub_self},                 /* x−x → 0 (finite x) */
    {"add-self", simp_add_self},                 /* x+x → x·2 */
    {"neg-neg", simp_neg_neg},                   /* −(−x) → x */
    {"add-neg", simp_add_neg},                   /* a+(−b) → a−b */
    {"sub-neg", simp_sub_neg},                   /* a−(−b) → a+b */
    {"neg-scale", simp_neg_scale},               /* −(x·c) → x·(−c) */
    {"scale-neg", simp_scale_neg},               /* (−x)·c → x·(−c) */
    {"scale-scale", simp_scale_scale},           /* (x·a)·b → x·(a·b) */
    {"layout-noop", simp_layout_noop},           /* reshape to the same shape → x, ... */
    {"reshape-reshape", simp_reshape_reshape},   /* reshape∘reshape → reshape */
    {"broadcast-is-reshape", simp_broadcast_is_reshape}, /* [3] → [1,3] is a reshape */
    {"transpose-is-reshape", simp_transpose_is_reshape}, /* [1,n] → [n,1] is a reshape */
    {"transpose-transpose", simp_transpose_transpose},   /* perm composition */
    {"broadcast-broadcast", simp_broadcast_broadcast},   /* broadcast∘broadcast → broadcast */
    {"broadcast-reshape", simp_broadcast_reshape},       /* broadcast∘(leading-1s reshape) */
    {"reduce-is-reshape", simp_reduce_is_reshape},       /* reduction over size-1 axes */
    {"reduce-broadcast", simp_reduce_broadcast},         /* sum∘broadcast → scale, mean∘broadcast → x */
    {"reduce-one-hot", simp_reduce_one_hot},             /* row sum of one_hot(y)·c → c, 0 */
};
const int simp_nrules = (int)(sizeof simp_rules / sizeof simp_rules[0]);
_Static_assert(sizeof simp_rules / sizeof simp_rules[0] <= SIMP_MAX_RULES, "raise SIMP_MAX_RULES");

/* A rewrite that undoes another would loop; real graphs settle in a handful of sweeps. */
#define MAX_SWEEPS 100

/* ---- helpers for rewrites ------------------------------------------------------------- */

bool simp_splat(const ir_node *n, double *v) {
  if (n->op != IR_OP_CONST || n->attrs.nvalues < 1) return false;
  for (int64_t i = 1; i < n->attrs.nvalues; i++)
    if (memcmp(&n->attrs.values[i], &n->attrs.values[0], sizeof(double)) != 0) return false;
  *v = n->attrs.values[0];
  return true;
}

bool simp_is_splat(const ir_node *n, double v) {
  double c;
  return simp_splat(n, &c) && c == v;
}

ir_node *simp_fit(ir_func *f, ir_node *x, const ir_node *n) {
  return ir_emit_broadcast(f, x, &n->type);
}

int simp_stats_fired(const simp_stats *stats, const char *name) {
  for (int i = 0; i < simp_nrules; i++)
    if (strcmp(simp_rules[i].name, name) == 0) return stats->fired[i];
  return -1;
}

/* ---- common subexpressions ----------------------------------------------------------------- */

/* Two nodes are equal when they compute the same thing: same op, operands (in any order
 * for a commutative op), attributes and type. Arguments are never body nodes, so every
 * node here is pure. */

static void operand_ids(const ir_node *n, int *ids) {
  for (int i = 0; i < n->nargs; i++) ids[i] = n->args[i]->id;
  if (n->nargs == 2 && (ir_ops[n->op].flags & IR_F_COMMUTES) && ids[0] > ids[1]) {
    int t = ids[0];
    ids[0] = ids[1];
    ids[1] = t;
  }
}

static bool same_ints(const int64_t *a, const int64_t *b, int n) {
  return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

static bool same_attrs(const ir_node *a, const ir_node *b) {
  const ir_attrs *x = &a->attrs, *y = &b->attrs;
  switch (ir_ops[a->op].attrs) {
  case IR_ATTR_NONE: return true;
  case IR_ATTR_VALUE:
    return x->nvalues == y->nvalues &&
           memcmp(x->values, y->values, (size_t)x->nvalues * sizeof(double)) == 0;
  case IR_ATTR_AXIS: return x->axis == y->axis;
  case IR_ATTR_AXES:
    return x->naxes == y->naxes && x->keepdims == y->keepdims && same_ints(x->axes, y->axes, x->naxes);
  case IR_ATTR_PERM: return x->naxes == y->naxes && same_ints(x->axes, y->axes, x->naxes);
  case IR_ATTR_SLICE:
  case IR_ATTR_PADDING:
    return x->nbounds == y->nbounds && same_ints(x->lo, y->lo, x->nbounds) &&
           same_ints(x->hi, y->hi, x->nbounds);
  }
  return false;
}

static bool same_node(const ir_node *a, const ir_node *b) {
  if (a->op != b->op || a->nargs != b->nargs || !ir_type_equal(&a->type, &b->type)) return false;
  int ia[8], ib[8];
  if (a->nargs > 8) {
    for (int i = 0; i < a->nargs; i++)
      if (a->args[i] != b->args[i]) return false;
  } else {
    operand_ids(a, ia);
    operand_ids(b, ib);
    if (memcmp(ia, ib, (size_t)a->nargs * sizeof *ia) != 0) return false;
  }
  return same_attrs(a, b);
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

/* Hashes what same_node compares, except attributes (equal nodes rarely differ only there). */
static uint64_t hash_node(const ir_node *n) {
  uint64_t h = mix(0xcbf29ce484222325ull, (uint64_t)n->op);
  h = mix(h, (uint64_t)n->type.dtype);
  for (int i = 0; i < n->type.rank; i++) h = mix(h, (uint64_t)n->type.dims[i]);
  int ids[8];
  if (n->nargs <= 8) {
    operand_ids(n, ids);
    for (int i = 0; i < n->nargs; i++) h = mix(h, (uint64_t)ids[i]);
  }
  if (n->op == IR_OP_CONST && n->attrs.nvalues >= 1) {
    uint64_t bits;
    memcpy(&bits, &n->attrs.values[0], sizeof bits);
    h = mix(h, bits);
  }
  return h;
}

typedef struct {
  ir_node **slots;
  size_t mask;
} cse_table;

/* The earlier node equal to n, or n itself after remembering it. */
static ir_node *cse_lookup(cse_table *t, ir_node *n) {
  for (size_t i = hash_node(n) & t->mask;; i = (i + 1) & t->mask) {
    if (!t->slots[i]) return t->slots[i] = n;
    if (same_node(t->slots[i], n)) return t->slots[i];
  }
}

/* ---- the driver --------------------------------------------------------------------------- */

/* First rule that rewrites n, or NULL; counts it. */
static ir_node *try_rules(ir_func *f, ir_node *n, simp_stats *st) {
  for (int r = 0; r < simp_nrules; r++) {
    ir_node *to = simp_rules[r].fn(f, n);
    if (to && to != n) {
      IR_ASSERT(ir_type_equal(&to->type, &n->type));
      st->fired[r]++;
      return to;
    }
  }
  return NULL;
}

/* What replaced each node of this sweep, by id (NULL: kept). The body is in order, so a
 * node's operands are forwarded when the sweep reaches it: one replacement costs O(1),
 * not a scan of the body (which made a generated 80000-node model take minutes). */
typedef struct {
  ir_node **to;
  int n; /* ids below n; nodes a rewrite emits during the sweep have higher ones */
} forwarding;

static ir_node *forwarded(const forwarding *fw, ir_node *v) {
  while (v->id < fw->n && fw->to[v->id]) v = fw->to[v->id];
  return v;
}

static void forward_operands(const forwarding *fw, ir_node *n) {
  for (int j = 0; j < n->nargs; j++) n->args[j] = forwarded(fw, n->args[j]);
}

static void forward_results(const forwarding *fw, ir_func *f) {
  for (int i = 0; i < f->noutputs; i++) f->outputs[i].value = forwarded(fw, f->outputs[i].value);
  for (int i = 0; i < f->nupdates; i++) f->updates[i].value = forwarded(fw, f->updates[i].value);
}

/* One pass over the body: rewrites, then CSE of what no rewrite replaced. Nodes a
 * rewrite emits are visited by the next sweep. Returns the number of replacements. */
static int sweep(ir_func *f, simp_stats *st) {
  size_t cap = 16;
  while (cap < 2 * (size_t)f->nbody + 16) cap *= 2;
  cse_table t = {calloc(cap, sizeof *t.slots), cap - 1};
  forwarding fw = {calloc((size_t)f->next_id + 1, sizeof *fw.to), f->next_id};
  IR_ASSERT(t.slots != NULL && fw.to != NULL);
  int changes = 0;
  for (int i = 0; i < f->nbody; i++) {
    ir_node *n = f->body[i];
    forward_operands(&fw, n);
    int before = f->nbody;
    f->insert_at = i;
    f->loc = n->loc;
    ir_node *to = try_rules(f, n, st);
    i += f->nbody - before; /* n moved past what the rewrite inserted */
    if (!to) {
      to = cse_lookup(&t, n);
      if (to == n) continue;
      st->cse++;
    }
    fw.to[n->id] = to;
    changes++;
  }
  forward_results(&fw, f);
  free(fw.to);
  free(t.slots);
  f->insert_at = -1;
  f->loc = (ir_loc){0, 0};
  return changes;
}

/* Drops body nodes that no output or update reaches. Returns how many. */
static int dead_code(ir_func *f) {
  bool *live = calloc((size_t)f->next_id + 1, sizeof *live);
  IR_ASSERT(live != NULL);
  for (int i = 0; i < f->noutputs; i++) live[f->outputs[i].value->id] = true;
  for (int i = 0; i < f->nupdates; i++) live[f->updates[i].value->id] = true;
  for (int i = f->nbody - 1; i >= 0; i--)
    if (live[f->body[i]->id])
      for (int j = 0; j < f->body[i]->nargs; j++) live[f->body[i]->args[j]->id] = true;
  int before = f->nbody;
  ir_func_retain(f, live);
  free(live);
  return before - f->nbody;
}

bool simplify_func(ir_func *f, simp_stats *stats, ir_error *err) {
  simp_stats local;
  simp_stats *st = stats ? stats : &local;
  memset(st, 0, sizeof *st);
  int saved_insert_at = f->insert_at;
  ir_loc saved_loc = f->loc;
  st->dce += dead_code(f); /* fewer nodes to look at */
  for (st->sweeps = 1; st->sweeps <= MAX_SWEEPS; st->sweeps++) {
    int changes = sweep(f, st);
    st->dce += dead_code(f);
    if (changes == 0) {
      f->insert_at = saved_insert_at;
      f->loc = saved_loc;
      return true;
    }
  }
  ir_error_set(err, (ir_loc){0, 0},
               "simplify: @%s did not settle after %d sweeps (two rewrites undo each other)",
               f->name, MAX_SWEEPS);
  return false;
}

bool pass_simplify(ir_module *m, ir_error *err) {
  for (int i = 0; i < m->nfuncs; i++)
    if (!simplify_func(m->funcs[i], NULL, err)) return false;
  return true;
}

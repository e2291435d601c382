/* Shared by reverse and forward mode: which functions are differentiated and what the
 * derived ones are called, copying a function's arguments and nodes, and the small
 * builders that keep the VJP and JVP rules one line each. */
#include <string.h>

#include "ad.h"

bool ad_is_loss_func(const ir_func *f) {
  if (!ir_func_find_output(f, "loss") || f->nupdates > 0) return false;
  for (int i = 0; i < f->noutputs; i++) {
    const char *o = f->outputs[i].name;
    if (strncmp(o, "grad.", 5) == 0 || strcmp(o, "dloss") == 0) return false;
  }
  return true;
}

const char *ad_derived_name(ir_module *m, const ir_func *src, const char *base) {
  if (strcmp(src->name, "forward") == 0) return ir_strdup(m, base);
  size_t a = strlen(src->name), b = strlen(base);
  char *s = ir_alloc(m, a + b + 2);
  memcpy(s, src->name, a);
  s[a] = '.';
  memcpy(s + a + 1, base, b + 1);
  return s;
}

bool ad_derive_all(ir_module *m, const char *base, const char *pass, ad_derive_fn derive,
                   ir_error *err) {
  int nfuncs = m->nfuncs, done = 0;
  for (int i = 0; i < nfuncs; i++) {
    ir_func *f = m->funcs[i];
    if (!ad_is_loss_func(f)) continue;
    const char *name = ad_derived_name(m, f, base);
    if (ir_module_find_func(m, name)) {
      ir_error_set(err, (ir_loc){0}, "@%s already exists: has %s run on this module before?", name,
                   pass);
      return false;
    }
    if (!derive(m, f, name, err)) return false;
    done++;
  }
  if (!done) {
    ir_error_set(err, (ir_loc){0},
                 "no function to differentiate: none has an output 'loss' (and no updates)");
    return false;
  }
  return true;
}

/* ---- cloning ---------------------------------------------------------------------- */

ir_func *ad_clone_args(ir_module *m, const ir_func *src, const char *name, ir_node **map) {
  ir_func *f = ir_func_create(m, name);
  for (int i = 0; i < src->nargs; i++) {
    const ir_node *a = src->args[i];
    ir_node *c = ir_func_add_arg(f, a->op, a->name, a->type);
    c->loc = a->loc;
    map[a->id] = c;
  }
  return f;
}

ir_node *ad_clone_node(ir_func *f, const ir_node *n, ir_node **map) {
  ir_node *fixed[8], **args = fixed;
  if (n->nargs > 8) args = ir_alloc(f->module, (size_t)n->nargs * sizeof *args);
  for (int i = 0; i < n->nargs; i++) {
    args[i] = map[n->args[i]->id];
    IR_ASSERT(args[i] != NULL);
  }
  ir_loc saved = f->loc;
  f->loc = n->loc;
  ir_node *c = ir_emit(f, n->op, args, n->nargs, &n->attrs, &n->type);
  f->loc = saved;
  if (n->name) c->name = ir_strdup(f->module, n->name);
  map[n->id] = c;
  return c;
}

void ad_mark_needed(const ir_func *src, const ir_node *v, bool *needed) {
  needed[v->id] = true;
  /* Operands come before their users, so one backward sweep finds them all. */
  for (int i = src->nbody - 1; i >= 0; i--) {
    const ir_node *n = src->body[i];
    if (!needed[n->id]) continue;
    for (int j = 0; j < n->nargs; j++) needed[n->args[j]->id] = true;
  }
}

/* ---- builders ----------------------------------------------------------------------- */

ir_node *ad_const_like(ir_func *f, const ir_node *like, double v) {
  return ir_emit_const(f, like->type, v);
}

ir_node *ad_add(ir_func *f, ir_node *a, ir_node *b) { return ir_emit_binary(f, IR_OP_ADD, a, b); }
ir_node *ad_sub(ir_func *f, ir_node *a, ir_node *b) { return ir_emit_binary(f, IR_OP_SUB, a, b); }
ir_node *ad_mul(ir_func *f, ir_node *a, ir_node *b) { return ir_emit_binary(f, IR_OP_MUL, a, b); }
ir_node *ad_div(ir_func *f, ir_node *a, ir_node *b) { return ir_emit_binary(f, IR_OP_DIV, a, b); }
ir_node *ad_neg(ir_func *f, ir_node *a) { return ir_emit_unary(f, IR_OP_NEG, a); }

ir_node *ad_where(ir_func *f, ir_node *cond, ir_node *a) {
  ir_node *args[3] = {ir_emit_broadcast(f, cond, &a->type), a, ad_const_like(f, a, 0)};
  return ir_emit(f, IR_OP_SELECT, args, 3, NULL, NULL);
}

ir_node *ad_unbroadcast(ir_func *f, ir_node *g, const ir_type *to) {
  if (ir_shape_equal(&g->type, to)) return g;
  IR_ASSERT(ir_broadcasts_to(to, &g->type));
  int lead = g->type.rank - to->rank, naxes = 0;
  int64_t axes[IR_MAX_RANK];
  for (int i = 0; i < g->type.rank; i++)
    if (i < lead || (to->dims[i - lead] == 1 && g->type.dims[i] != 1)) axes[naxes++] = i;
  ir_node *s = naxes ? ir_emit_reduce(f, IR_OP_REDUCE_SUM, g, axes, naxes, false) : g;
  return ir_emit_reshape(f, s, to);
}

ir_node *ad_expand_reduced(ir_func *f, ir_node *g, const ir_node *x, const int64_t *axes,
                           int naxes) {
  ir_type kept = x->type;
  kept.dtype = g->type.dtype;
  for (int i = 0; i < naxes; i++) kept.dims[axes[i]] = 1;
  return ir_emit_broadcast(f, ir_emit_reshape(f, g, &kept), &x->type);
}

ir_node *ad_transpose(ir_func *f, ir_node *x, const int64_t *perm) {
  ir_attrs attrs = {.naxes = x->type.rank};
  bool identity = true;
  for (int i = 0; i < x->type.rank; i++) {
    attrs.axes[i] = perm[i];
    identity = identity && perm[i] == i;
  }
  return identity ? x : ir_emit(f, IR_OP_TRANSPOSE, &x, 1, &attrs, NULL);
}

ir_node *ad_swap_last2(ir_func *f, ir_node *x) {
  int64_t perm[IR_MAX_RANK];
  int r = x->type.rank;
  for (int i = 0; i < r; i++) perm[i] = i;
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return ad_transpose(f, x, perm);
}

ir_node *ad_reapply(ir_func *f, const ir_node *n, ir_node *const *args) {
  ir_type given = n->type;
  given.dtype = args[0]->type.dtype;
  bool type_given = ir_ops[n->op].flags & IR_F_TYPE_GIVEN;
  return ir_emit(f, n->op, args, n->nargs, &n->attrs, type_given ? &given : NULL);
}

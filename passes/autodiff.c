/* autodiff: reverse-mode automatic differentiation, as IR.
 * require: verified IR (explicit broadcasts are welcome but not needed: the rules sum
 * implicitly broadcast operands back themselves).
 *
 * Which functions: every function that has an output `loss` and no update lines and is
 * not itself derived (no `grad.*` or `dloss` output) is differentiated. @forward gives
 * @gradients; any other @NAME gives @NAME.gradients. The derived function must not exist
 * yet (running autodiff twice is an error), and a module with nothing to differentiate is
 * an error too, since a training pipeline without a loss is a mistake upstream.
 *
 * What it builds: a copy of the function with the same arguments, the nodes `loss`
 * depends on, and then the backward graph; outputs `loss` and `grad.<p>` for every PARAM
 * p, in argument order (a parameter the loss does not depend on gets zeros).
 *
 * How: a value is *active* if it is floating point and depends on a floating-point
 * PARAM. The adjoint of `loss` is 1; walking the forward nodes in reverse order, each
 * node with an adjoint hands it to its active operands through its op's VJP rule
 * (vjp.c), and contributions to a value used several times are summed with `add`.
 * Integer and bool values (labels, comparison masks) are never active, so they stop
 * gradients without complaint; an op without IR_F_DIFF that would have to pass a gradient
 * on to an active operand is an error at that node's source location. */
#include <stdlib.h>

#include "ad.h"
#include "passes.h"

static bool is_float(const ir_node *n) { return ir_dtype_is_float(n->type.dtype); }

static bool check_loss(const ir_func *src, const ir_node *loss, ir_error *err) {
  if (loss->type.rank == 0 && is_float(loss)) return true;
  char t[IR_TYPE_STR_MAX];
  ir_error_set(err, loss->loc, "@%s: output 'loss' must be a floating-point scalar to differentiate, got %s",
               src->name, ir_type_str(&loss->type, t, sizeof t));
  return false;
}

/* The backward sweep over the forward nodes of g (the first nfwd of its body). */
static bool backward(ir_func *g, int nfwd, const bool *active, ir_node **adj,
                     const vjp_rule *rules, ir_error *err) {
  bool ok = true;
  for (int i = nfwd - 1; i >= 0 && ok; i--) {
    ir_node *n = g->body[i];
    if (!adj[n->id]) continue;
    bool fixed_want[8], *want = n->nargs <= 8 ? fixed_want : calloc((size_t)n->nargs, sizeof *want);
    ir_node *fixed_gr[8], **gr = n->nargs <= 8 ? fixed_gr : calloc((size_t)n->nargs, sizeof *gr);
    IR_ASSERT(want && gr);
    bool any = false;
    for (int j = 0; j < n->nargs; j++) {
      want[j] = active[n->args[j]->id];
      gr[j] = NULL;
      any = any || want[j];
    }
    vjp_rule rule = (ir_ops[n->op].flags & IR_F_DIFF) ? rules[n->op] : NULL;
    if (any && !rule) {
      ir_error_set(err, n->loc,
                   "@%s: the gradient of the loss must flow through '%s', which is not differentiable",
                   g->name, ir_ops[n->op].name);
      ok = false;
    } else if (any) {
      g->loc = n->loc; /* backward nodes point at the forward op they differentiate */
      rule(g, n, adj[n->id], want, gr);
      for (int j = 0; j < n->nargs; j++) {
        if (!want[j]) continue;
        ir_node *a = n->args[j];
        IR_ASSERT(gr[j] != NULL && ir_type_equal(&gr[j]->type, &a->type));
        adj[a->id] = adj[a->id] ? ad_add(g, adj[a->id], gr[j]) : gr[j];
      }
    }
    if (want != fixed_want) free(want);
    if (gr != fixed_gr) free(gr);
  }
  g->loc = (ir_loc){0};
  return ok;
}

ir_func *ad_build_gradients(ir_module *m, const ir_func *src, const char *name,
                            const vjp_rule *rules, ir_error *err) {
  ir_node *loss = ir_func_find_output(src, "loss");
  if (!loss) {
    ir_error_set(err, (ir_loc){0}, "@%s has no output 'loss' to differentiate", src->name);
    return NULL;
  }
  if (!check_loss(src, loss, err)) return NULL;

  int nsrc = src->next_id ? src->next_id : 1;
  bool *needed = calloc((size_t)nsrc, sizeof *needed);
  ir_node **map = calloc((size_t)nsrc, sizeof *map);
  IR_ASSERT(needed && map);
  ad_mark_needed(src, loss, needed);
  ir_func *g = ad_clone_args(m, src, name, map);
  for (int i = 0; i < src->nbody; i++)
    if (needed[src->body[i]->id]) ad_clone_node(g, src->body[i], map);
  ir_node *gloss = map[loss->id];
  free(needed);
  free(map);

  /* Forward activity, by id of g's nodes (all of them are forward copies so far). */
  int nfwd = g->nbody, nids = g->next_id;
  bool *active = calloc((size_t)nids, sizeof *active);
  ir_node **adj = calloc((size_t)nids, sizeof *adj);
  IR_ASSERT(active && adj);
  for (int i = 0; i < g->nargs; i++)
    active[g->args[i]->id] = g->args[i]->op == IR_OP_PARAM && is_float(g->args[i]);
  for (int i = 0; i < nfwd; i++) {
    ir_node *n = g->body[i];
    for (int j = 0; j < n->nargs && is_float(n); j++) active[n->id] |= active[n->args[j]->id];
  }

  if (active[gloss->id]) adj[gloss->id] = ad_const_like(g, gloss, 1);
  bool ok = backward(g, nfwd, active, adj, rules, err);
  if (ok) {
    ir_func_add_output(g, "loss", gloss);
    for (int i = 0; i < g->nargs; i++) {
      ir_node *p = g->args[i];
      if (p->op != IR_OP_PARAM) continue;
      char oname[512];
      snprintf(oname, sizeof oname, "grad.%s", p->name);
      ir_func_add_output(g, oname, adj[p->id] ? adj[p->id] : ad_const_like(g, p, 0));
    }
  }
  free(active);
  free(adj);
  if (!ok) {
    /* Leave the module as it was: the half-built function is dropped (its nodes stay
     * in the arena until the module dies). */
    m->nfuncs--;
    return NULL;
  }
  return g;
}

static ir_func *derive_gradients(ir_module *m, const ir_func *src, const char *name, ir_error *err) {
  return ad_build_gradients(m, src, name, ad_vjp_rules(), err);
}

bool pass_autodiff(ir_module *m, ir_error *err) {
  return ad_derive_all(m, "gradients", "autodiff", derive_gradients, err);
}

/* jvp: forward-mode automatic differentiation, as IR.
 * require: verified IR.
 *
 * For the same functions autodiff differentiates (see autodiff.c: an output `loss`, no
 * updates, not derived), builds @jvp from @forward (@NAME.jvp from any other @NAME): the
 * function's arguments plus one INPUT `tangent.<p>` of p's type for every floating-point
 * PARAM p, the nodes `loss` depends on, each followed by its tangent; outputs `loss` and
 * `dloss`, the derivative of the loss along the direction the tangents give.
 *
 * It is the independent check of reverse mode (dlc gradcheck compares dloss with the
 * dot product of the gradients and the tangents) and a way to ask for directional
 * derivatives. Tangents follow the same activity rule as adjoints: only floating-point
 * values carry one, so integer and bool paths stop them. */
#include <stdlib.h>

#include "ad.h"
#include "passes.h"

static bool is_float(const ir_node *n) { return ir_dtype_is_float(n->type.dtype); }

ir_func *ad_build_jvp(ir_module *m, const ir_func *src, const char *name, const jvp_rule *rules,
                      ir_error *err) {
  ir_node *loss = ir_func_find_output(src, "loss");
  if (!loss) {
    ir_error_set(err, (ir_loc){0}, "@%s has no output 'loss' to differentiate", src->name);
    return NULL;
  }
  if (loss->type.rank != 0 || !is_float(loss)) {
    char t[IR_TYPE_STR_MAX];
    ir_error_set(err, loss->loc,
                 "@%s: output 'loss' must be a floating-point scalar to differentiate, got %s",
                 src->name, ir_type_str(&loss->type, t, sizeof t));
    return NULL;
  }

  int nsrc = src->next_id ? src->next_id : 1;
  bool *needed = calloc((size_t)nsrc, sizeof *needed);
  ir_node **map = calloc((size_t)nsrc, sizeof *map), **tan = calloc((size_t)nsrc, sizeof *tan);
  IR_ASSERT(needed && map && tan);
  ad_mark_needed(src, loss, needed);

  ir_func *j = ad_clone_args(m, src, name, map);
  for (int i = 0; i < src->nargs; i++) {
    const ir_node *p = src->args[i];
    if (p->op != IR_OP_PARAM || !is_float(p)) continue;
    char tname[512];
    snprintf(tname, sizeof tname, "tangent.%s", p->name);
    tan[p->id] = ir_func_add_arg(j, IR_OP_INPUT, tname, p->type);
  }

  bool ok = true;
  for (int i = 0; i < src->nbody && ok; i++) {
    const ir_node *n = src->body[i];
    if (!needed[n->id]) continue;
    ir_node *c = ad_clone_node(j, n, map);
    if (!is_float(n)) continue;
    ir_node *fixed[8], **t = n->nargs <= 8 ? fixed : calloc((size_t)n->nargs, sizeof *t);
    IR_ASSERT(t != NULL);
    bool any = false;
    for (int k = 0; k < n->nargs; k++) {
      t[k] = is_float(n->args[k]) ? tan[n->args[k]->id] : NULL;
      any = any || t[k];
    }
    jvp_rule rule = (ir_ops[n->op].flags & IR_F_DIFF) ? rules[n->op] : NULL;
    if (any && !rule) {
      ir_error_set(err, n->loc,
                   "@%s: the derivative of the loss must flow through '%s', which is not differentiable",
                   src->name, ir_ops[n->op].name);
      ok = false;
    } else if (any) {
      j->loc = n->loc;
      tan[n->id] = rule(j, c, t);
      IR_ASSERT(ir_type_equal(&tan[n->id]->type, &c->type));
    }
    if (t != fixed) free(t);
  }
  j->loc = (ir_loc){0};
  if (ok) {
    ir_node *dloss = tan[loss->id];
    ir_func_add_output(j, "loss", map[loss->id]);
    ir_func_add_output(j, "dloss", dloss ? dloss : ad_const_like(j, map[loss->id], 0));
  }
  free(needed);
  free(map);
  free(tan);
  if (!ok) {
    m->nfuncs--; /* drop the half-built function; the module is as it was */
    return NULL;
  }
  return j;
}

static ir_func *derive_jvp(ir_module *m, const ir_func *src, const char *name, ir_error *err) {
  return ad_build_jvp(m, src, name, ad_jvp_rules(), err);
}

bool pass_jvp(ir_module *m, ir_error *err) {
  return ad_derive_all(m, "jvp", "jvp", derive_jvp, err);
}

/* shape-infer: rechecks every node's type against its op's shape rule and makes NumPy
 * broadcasting explicit. After it, every operand of an elementwise op has the shape of
 * the op's result, so later passes (autodiff, simplify, fuse, the backend) never have to
 * reason about implicit broadcasting: a `broadcast` node says where it happens.
 *
 * require: nothing (verified IR is not assumed: a type that disagrees with its rule is
 * reported with the node's source location, because frontends produce this IR). */
#include "passes.h"

/* Inserts `broadcast` nodes in front of n for the operands whose shape differs from n's.
 * Returns how many nodes were inserted (they land before n, at f->insert_at). */
static int make_broadcasts_explicit(ir_func *f, ir_node *n) {
  int inserted = 0;
  for (int i = 0; i < n->nargs; i++) {
    ir_node *x = n->args[i];
    if (ir_shape_equal(&x->type, &n->type)) continue;
    n->args[i] = ir_emit_broadcast(f, x, &n->type); /* keeps x's dtype */
    inserted++;
  }
  return inserted;
}

static bool check_type(const ir_func *f, const ir_node *n, ir_error *err) {
  ir_type inferred;
  if (!ir_infer_type(n, &inferred, err)) {
    /* Keep the rule's message, which names the op and the shapes; add the function. */
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    ir_error_set(err, n->loc, "in @%s: %s", f->name, msg);
    return false;
  }
  if (!ir_type_equal(&inferred, &n->type)) {
    char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
    ir_error_set(err, n->loc, "in @%s: '%s' produces %s, but its type says %s", f->name,
                 ir_ops[n->op].name, ir_type_str(&inferred, a, sizeof a),
                 ir_type_str(&n->type, b, sizeof b));
    return false;
  }
  return true;
}

static bool shape_infer_func(ir_func *f, ir_error *err) {
  int saved_insert_at = f->insert_at;
  ir_loc saved_loc = f->loc;
  for (int i = 0; i < f->nbody; i++) {
    ir_node *n = f->body[i];
    if (!check_type(f, n, err)) return false;
    if (!ir_op_is_elementwise(n->op)) continue;
    f->insert_at = i;
    f->loc = n->loc; /* a broadcast belongs to the source expression that needed it */
    i += make_broadcasts_explicit(f, n); /* n moved right by what was inserted */
  }
  f->insert_at = saved_insert_at;
  f->loc = saved_loc;
  return true;
}

bool pass_shape_infer(ir_module *m, ir_error *err) {
  for (int i = 0; i < m->nfuncs; i++)
    if (!shape_infer_func(m->funcs[i], err)) return false;
  return true;
}

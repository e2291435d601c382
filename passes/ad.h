/* What the two automatic-differentiation passes share (autodiff.c: reverse mode,
 * jvp.c: forward mode): the per-op rule tables, cloning a function, and the small IR
 * builders the rules are written with. Internal to passes/. */
#ifndef DLC_PASSES_AD_H
#define DLC_PASSES_AD_H

#include "ir.h"

/* Reverse mode. `n` is a node of the function being built, `g` the adjoint of its result
 * (n's type). For each operand i with want[i] set, the rule stores in grads[i] the
 * adjoint contribution for that operand, with exactly the operand's type. want[i] is
 * only ever set for floating-point operands. Rules build IR with f's builders. */
typedef void (*vjp_rule)(ir_func *f, ir_node *n, ir_node *g, const bool *want, ir_node **grads);

/* Forward mode. `n` is a node of the function being built, t[i] the tangent of operand i
 * (its type) or NULL where it is zero; at least one is not NULL, and only floating-point
 * operands have one. Returns the tangent of n's result (n's type). */
typedef ir_node *(*jvp_rule)(ir_func *f, ir_node *n, ir_node *const *t);

/* The rule tables, indexed by op: a rule for exactly the ops with IR_F_DIFF. */
const vjp_rule *ad_vjp_rules(void);
const jvp_rule *ad_jvp_rules(void);

/* Builds @name, the reverse-mode gradient function of `src` (outputs `loss` and
 * `grad.<param>` for every PARAM) with the given rule table (the tests pass a table
 * with a rule taken out to reach the error path). NULL and err on failure. */
ir_func *ad_build_gradients(ir_module *m, const ir_func *src, const char *name,
                            const vjp_rule *rules, ir_error *err);
/* Builds @name, the forward-mode function of `src`: src's arguments plus an INPUT
 * `tangent.<param>` for every floating-point PARAM; outputs `loss` and `dloss`. */
ir_func *ad_build_jvp(ir_module *m, const ir_func *src, const char *name,
                      const jvp_rule *rules, ir_error *err);

/* Whether the autodiff passes derive a function from f: it has an output `loss` and no
 * update lines, and is not itself derived (no `grad.*` or `dloss` output). */
bool ad_is_loss_func(const ir_func *f);
/* The name of the function derived from `src` with `suffix`: "forward" gives `base`
 * ("gradients", "jvp"), any other NAME gives NAME.<base>. Arena string. */
const char *ad_derived_name(ir_module *m, const ir_func *src, const char *base);

/* What a derivation pass builds for one loss function: @name from src. */
typedef ir_func *(*ad_derive_fn)(ir_module *m, const ir_func *src, const char *name, ir_error *err);
/* The driver of autodiff and jvp: derives @<base> (see ad_derived_name) from every loss
 * function of m with `derive`; an error if one exists already (`pass` names the pass in the
 * message) or if there is no loss function. Functions it creates are not candidates. */
bool ad_derive_all(ir_module *m, const char *base, const char *pass, ad_derive_fn derive,
                   ir_error *err);

/* ---- cloning --------------------------------------------------------------------- */

/* A new function @name with src's arguments (same roles, names, types, order); map
 * (src->next_id entries, caller-owned) receives the new node for every argument. */
ir_func *ad_clone_args(ir_module *m, const ir_func *src, const char *name, ir_node **map);
/* Copies src node n into f (after its operands, which must already be in map), with
 * its location, attributes and type; records it in map and returns it. */
ir_node *ad_clone_node(ir_func *f, const ir_node *n, ir_node **map);
/* Marks (by id, src->next_id entries) every node the value v depends on, v included. */
void ad_mark_needed(const ir_func *src, const ir_node *v, bool *needed);

/* ---- builders the rules share ---------------------------------------------------- */

ir_node *ad_const_like(ir_func *f, const ir_node *like, double v); /* splat of like's type */
ir_node *ad_add(ir_func *f, ir_node *a, ir_node *b);
ir_node *ad_sub(ir_func *f, ir_node *a, ir_node *b);
ir_node *ad_mul(ir_func *f, ir_node *a, ir_node *b);
ir_node *ad_div(ir_func *f, ir_node *a, ir_node *b);
ir_node *ad_neg(ir_func *f, ir_node *a);
/* cond ? a : 0, at a's shape (cond broadcasts to it). */
ir_node *ad_where(ir_func *f, ir_node *cond, ir_node *a);
/* A value of a broadcast shape summed back to `to` (the shape it was broadcast from):
 * reduce_sum over the added and the stretched axes, then reshape. No-op if equal. */
ir_node *ad_unbroadcast(ir_func *f, ir_node *g, const ir_type *to);
/* The result g of a reduction of x over axes (without keepdims or with) reshaped to
 * keep the reduced axes and broadcast back to x's shape. */
ir_node *ad_expand_reduced(ir_func *f, ir_node *g, const ir_node *x, const int64_t *axes,
                           int naxes);
/* Transpose with the given permutation; swapping the last two axes of a matrix stack. */
ir_node *ad_transpose(ir_func *f, ir_node *x, const int64_t *perm);
ir_node *ad_swap_last2(ir_func *f, ir_node *x);
/* Same op and attributes as n, applied to other operands (a tangent through a linear
 * op); the result type keeps n's shape and takes the operands' dtype. */
ir_node *ad_reapply(ir_func *f, const ir_node *n, ir_node *const *args);

#endif

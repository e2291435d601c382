/* The simplify pass's inside, shared by its files:
 *   simplify.c          the driver: rewrites to a fixed point, CSE, DCE, the rule list
 *   simplify_fold.c     constant folding
 *   simplify_algebra.c  arithmetic identities (x·1, x+0, neg∘neg, ...)
 *   simplify_layout.c   layout and reduction identities (transpose∘transpose, sum∘broadcast, ...)
 *   simplify_label.c    label identities (the sum of a scaled one_hot row)
 *
 * A rewrite is one small function: it looks at one node and returns the node that
 * replaces it, or NULL when it does not apply (and then it has emitted nothing). The
 * driver points f->insert_at and f->loc at n before calling it, so nodes a rewrite emits
 * land just before n and may use n's operands. A replacement has n's type. */
#ifndef DLC_SIMPLIFY_H
#define DLC_SIMPLIFY_H

#include "ir.h"

typedef ir_node *(*simp_rewrite)(ir_func *f, ir_node *n);

typedef struct {
  const char *name; /* kebab-case, as tests and statistics refer to it */
  simp_rewrite fn;
} simp_rule;

extern const simp_rule simp_rules[];
extern const int simp_nrules;

#define SIMP_MAX_RULES 64

/* What one run did, for tests and for anyone curious. */
typedef struct {
  int fired[SIMP_MAX_RULES]; /* by index into simp_rules */
  int cse;                   /* nodes merged into an equal earlier one */
  int dce;                   /* dead nodes removed */
  int sweeps;                /* passes over the body until nothing changed */
} simp_stats;

/* Simplifies one function to a fixed point. False (with err) only if it does not reach
 * one, which would be a rewrite that undoes another: a bug. `stats` may be NULL. */
bool simplify_func(ir_func *f, simp_stats *stats, ir_error *err);
/* How often the rule called `name` fired; -1 if there is no such rule. */
int simp_stats_fired(const simp_stats *stats, const char *name);

/* ---- helpers for rewrites ----------------------------------------------------------- */

/* Whether n is a constant whose elements all equal one value (stored in *v). */
bool simp_splat(const ir_node *n, double *v);
/* Whether n is a splat constant equal to `v`. */
bool simp_is_splat(const ir_node *n, double v);
/* x broadcast to n's shape (x itself when it already has it): a replacement for n. */
ir_node *simp_fit(ir_func *f, ir_node *x, const ir_node *n);

/* ---- the rewrites, by file ------------------------------------------------------------- */

ir_node *simp_fold_constants(ir_func *f, ir_node *n);  /* simplify_fold.c */
ir_node *simp_const_splat(ir_func *f, ir_node *n);

ir_node *simp_mul_one(ir_func *f, ir_node *n);         /* simplify_algebra.c */
ir_node *simp_mul_zero(ir_func *f, ir_node *n);
ir_node *simp_mul_minus_one(ir_func *f, ir_node *n);
ir_node *simp_add_zero(ir_func *f, ir_node *n);
ir_node *simp_sub_zero(ir_func *f, ir_node *n);
ir_node *simp_zero_sub(ir_func *f, ir_node *n);
ir_node *simp_div_one(ir_func *f, ir_node *n);
ir_node *simp_sub_self(ir_func *f, ir_node *n);
ir_node *simp_add_self(ir_func *f, ir_node *n);
ir_node *simp_neg_neg(ir_func *f, ir_node *n);
ir_node *simp_add_neg(ir_func *f, ir_node *n);
ir_node *simp_sub_neg(ir_func *f, ir_node *n);
ir_node *simp_neg_scale(ir_func *f, ir_node *n);
ir_node *simp_scale_neg(ir_func *f, ir_node *n);
ir_node *simp_scale_scale(ir_func *f, ir_node *n);

ir_node *simp_layout_noop(ir_func *f, ir_node *n);     /* simplify_layout.c */
ir_node *simp_reshape_reshape(ir_func *f, ir_node *n);
ir_node *simp_broadcast_is_reshape(ir_func *f, ir_node *n);
ir_node *simp_transpose_is_reshape(ir_func *f, ir_node *n);
ir_node *simp_transpose_transpose(ir_func *f, ir_node *n);
ir_node *simp_broadcast_broadcast(ir_func *f, ir_node *n);
ir_node *simp_broadcast_reshape(ir_func *f, ir_node *n);
ir_node *simp_reduce_is_reshape(ir_func *f, ir_node *n);
ir_node *simp_reduce_broadcast(ir_func *f, ir_node *n);

ir_node *simp_reduce_one_hot(ir_func *f, ir_node *n);  /* simplify_label.c */

#endif

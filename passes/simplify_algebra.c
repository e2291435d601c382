/* Arithmetic identities for simplify, one rewrite a function, each named in its comment
 * as it is in the rule list.
 *
 * Floating-point policy. Identities exact in IEEE arithmetic (x·1, x/1, x−0, neg∘neg,
 * a+(−b) = a−b) always apply; x+0 → x also does, though it turns −0 into +0's partner
 * (−0 + 0 is +0), which no training step can observe. Two identities hold only for finite
 * x: x·0 → 0 and x−x → 0 (∞·0 and ∞−∞ are NaN). dlc applies them, as compilers do under
 * -ffinite-math-only: a training step whose values are infinite or NaN has diverged
 * whatever such a product gives, and its loss shows it. Folding a chain of constant
 * scales, (x·a)·b → x·(a·b), rounds once instead of twice. */
#include "simplify.h"

/* Finds the splat-constant operand of a binary n: for commutative ops either side, else
 * only the right one. *x receives the other operand. */
static bool const_operand(const ir_node *n, ir_node **x, double *c) {
  if (simp_splat(n->args[1], c)) {
    *x = n->args[0];
    return true;
  }
  if ((ir_ops[n->op].flags & IR_F_COMMUTES) && simp_splat(n->args[0], c)) {
    *x = n->args[1];
    return true;
  }
  return false;
}

/* x op c for the identity constant c of op (the x's shape fitted to n's). */
static ir_node *drop_identity(ir_func *f, ir_node *n, ir_opcode op, double identity) {
  ir_node *x;
  double c;
  if (n->op != op || !const_operand(n, &x, &c) || c != identity) return NULL;
  return simp_fit(f, x, n);
}

static ir_node *zero_like(ir_func *f, const ir_node *n) { return ir_emit_const(f, n->type, 0); }

/* mul-one: x·1 → x, 1·x → x */
ir_node *simp_mul_one(ir_func *f, ir_node *n) { return drop_identity(f, n, IR_OP_MUL, 1); }

/* mul-zero: x·0 → 0, 0·x → 0 (finite x: see the policy above) */
ir_node *simp_mul_zero(ir_func *f, ir_node *n) {
  ir_node *x;
  double c;
  if (n->op != IR_OP_MUL || !const_operand(n, &x, &c) || c != 0) return NULL;
  return zero_like(f, n);
}

/* mul-minus-one: x·(−1) → −x */
ir_node *simp_mul_minus_one(ir_func *f, ir_node *n) {
  ir_node *x;
  double c;
  if (n->op != IR_OP_MUL || !const_operand(n, &x, &c) || c != -1) return NULL;
  return simp_fit(f, ir_emit_unary(f, IR_OP_NEG, x), n);
}

/* add-zero: x+0 → x, 0+x → x */
ir_node *simp_add_zero(ir_func *f, ir_node *n) { return drop_identity(f, n, IR_OP_ADD, 0); }

/* sub-zero: x−0 → x */
ir_node *simp_sub_zero(ir_func *f, ir_node *n) { return drop_identity(f, n, IR_OP_SUB, 0); }

/* zero-sub: 0−x → −x */
ir_node *simp_zero_sub(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_SUB || !simp_is_splat(n->args[0], 0)) return NULL;
  return simp_fit(f, ir_emit_unary(f, IR_OP_NEG, n->args[1]), n);
}

/* div-one: x/1 → x */
ir_node *simp_div_one(ir_func *f, ir_node *n) { return drop_identity(f, n, IR_OP_DIV, 1); }

/* sub-self: x−x → 0 (finite x) */
ir_node *simp_sub_self(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_SUB || n->args[0] != n->args[1]) return NULL;
  return zero_like(f, n);
}

/* add-self: x+x → x·2 (one operand read instead of two; exact in binary floating point) */
ir_node *simp_add_self(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_ADD || n->args[0] != n->args[1]) return NULL;
  return ir_emit_binary(f, IR_OP_MUL, n->args[0], ir_emit_const(f, n->type, 2));
}

/* neg-neg: −(−x) → x */
ir_node *simp_neg_neg(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_NEG || n->args[0]->op != IR_OP_NEG) return NULL;
  return n->args[0]->args[0];
}

/* add-neg: a+(−b) → a−b, (−a)+b → b−a */
ir_node *simp_add_neg(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_ADD) return NULL;
  ir_node *a = n->args[0], *b = n->args[1];
  if (b->op == IR_OP_NEG) return ir_emit_binary(f, IR_OP_SUB, a, b->args[0]);
  if (a->op == IR_OP_NEG) return ir_emit_binary(f, IR_OP_SUB, b, a->args[0]);
  return NULL;
}

/* sub-neg: a−(−b) → a+b */
ir_node *simp_sub_neg(ir_func *f, ir_node *n) {
  if (n->op != IR_OP_SUB || n->args[1]->op != IR_OP_NEG) return NULL;
  return ir_emit_binary(f, IR_OP_ADD, n->args[0], n->args[1]->args[0]);
}

/* x·c where n (of type n->type) is the product being replaced. */
static ir_node *scale_like(ir_func *f, const ir_node *n, ir_node *x, double c) {
  return ir_emit_binary(f, IR_OP_MUL, x, ir_emit_const(f, n->type, c));
}

/* neg-scale: −(x·c) → x·(−c) */
ir_node *simp_neg_scale(ir_func *f, ir_node *n) {
  ir_node *x;
  double c;
  if (n->op != IR_OP_NEG || n->args[0]->op != IR_OP_MUL || !const_operand(n->args[0], &x, &c))
    return NULL;
  return scale_like(f, n, x, -c);
}

/* scale-neg: (−x)·c → x·(−c) */
ir_node *simp_scale_neg(ir_func *f, ir_node *n) {
  ir_node *x;
  double c;
  if (n->op != IR_OP_MUL || !const_operand(n, &x, &c) || x->op != IR_OP_NEG) return NULL;
  return scale_like(f, n, x->args[0], -c);
}

/* scale-scale: (x·a)·b → x·(a·b) */
ir_node *simp_scale_scale(ir_func *f, ir_node *n) {
  ir_node *inner, *x;
  double a, b;
  if (n->op != IR_OP_MUL || !const_operand(n, &inner, &b) || inner->op != IR_OP_MUL ||
      !const_operand(inner, &x, &a))
    return NULL;
  return scale_like(f, n, x, a * b);
}

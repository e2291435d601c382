/* fuse: groups chains of elementwise, broadcast and one_hot ops (forward and backward
 * alike: bias add then relu, the relu mask of the backward pass, the SGD update w - lr·g)
 * into kernels, by numbering them in node->kernel. The backend emits each kernel as one
 * loop nest in which the group's intermediates stay in registers; a value used outside its
 * group (by a matmul, a softmax, another kernel, an output or an update) is stored to memory.
 *
 * A kernel has one iteration space: every op in it has the same shape. A reduction may end
 * a kernel (its operand's shape is the space; the elementwise ops that feed it are computed
 * inside its loop), but nothing in the kernel can use the reduction's result, which exists
 * only when the loop is done. Kernels are convex: no path leaves a kernel and comes back
 * into it, so the kernels can be run one after the other. Constants and iotas join the
 * kernel of their users when all of them are in one; the backend inlines them anyway.
 * Broadcast and one_hot are index maps (an element from their operand at a computed index,
 * one_hot's a compare of the label with the last index), so they join like elementwise ops
 * and are computed in registers where used: the cross-entropy backward's one_hot of the
 * labels is never stored.
 *
 * A 2-D f32 matmul then joins the elementwise kernel that consumes it, as its epilogue (bias
 * add, activation, the activation's mask, the SGD update of the weight whose gradient it is);
 * of a kernel that ends in a reduction, only the pointwise part, when what the reduction
 * reads is stored anyway.
 *
 * Greedy, producer into consumer, in body order; each merge is checked for convexity.
 *
 * require: shape-infer (every type known; broadcasts explicit or implicit, either works). */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  const ir_func *f;
  int n;              /* ids */
  int *parent;        /* union-find by id; -1 = not fusable */
  ir_type *space;     /* by root: the group's iteration space */
  bool *has_reduce;   /* by root */
  bool *in, *reach;   /* scratch for the convexity check */
} fuser;

static bool is_source(const ir_node *n) { return n->op == IR_OP_CONST || n->op == IR_OP_IOTA; }
static bool is_reduce(const ir_node *n) { return ir_ops[n->op].kind == IR_KIND_REDUCE; }
/* Computed at any index of its own shape from its operands: may be a member of any kernel. */
static bool is_pointwise(const ir_node *n) {
  return ir_op_is_elementwise(n->op) || n->op == IR_OP_BROADCAST || n->op == IR_OP_ONE_HOT;
}
static bool is_fusable(const ir_node *n) { return is_pointwise(n) || is_reduce(n); }

static int find(fuser *fu, int id) {
  while (fu->parent[id] != id) {
    fu->parent[id] = fu->parent[fu->parent[id]];
    id = fu->parent[id];
  }
  return id;
}

/* Whether the nodes marked in[] can be one kernel: not if some node outside is reached from
 * a member and reaches a member (that node would have to run both before and after the
 * kernel), nor if a member uses a member reduction (its result exists only after the loop).
 * in[] and reach[] are by id; arguments are never members and reach[] is scratch. */
static bool convex(const ir_func *f, const bool *in, bool *reach) {
  for (int i = 0; i < f->nbody; i++) {
    const ir_node *x = f->body[i];
    bool from_group = false, from_outside_path = false;
    for (int a = 0; a < x->nargs; a++) {
      const ir_node *op = x->args[a];
      if (in[op->id]) from_group = true;
      if (in[op->id] && in[x->id] && is_reduce(op)) return false;
      if (reach[op->id]) from_outside_path = true;
    }
    if (in[x->id] && from_outside_path) return false;
    reach[x->id] = !in[x->id] && (from_group || from_outside_path);
  }
  return true;
}

/* Groups ra and rb merged: still one convex kernel. */
static bool convex_after_merge(fuser *fu, int ra, int rb) {
  for (int i = 0; i < fu->f->nbody; i++) {
    const ir_node *x = fu->f->body[i];
    int r = fu->parent[x->id] >= 0 ? find(fu, x->id) : -1;
    fu->in[x->id] = r == ra || r == rb;
  }
  return convex(fu->f, fu->in, fu->reach);
}

static void try_merge(fuser *fu, const ir_node *consumer, const ir_node *producer) {
  if (fu->parent[producer->id] < 0 || is_source(producer) || is_reduce(producer)) return;
  int ra = find(fu, consumer->id), rb = find(fu, producer->id);
  if (ra == rb) return;
  if (!ir_shape_equal(&fu->space[ra], &fu->space[rb])) return;
  if (fu->has_reduce[ra] && fu->has_reduce[rb]) return;
  if (!convex_after_merge(fu, ra, rb)) return;
  fu->parent[rb] = ra;
  fu->has_reduce[ra] = fu->has_reduce[ra] || fu->has_reduce[rb];
}

static bool is_transpose_2d(const ir_node *n) {
  return n->op == IR_OP_TRANSPOSE && n->type.rank == 2 && n->attrs.naxes == 2 && n->attrs.axes[0] == 1;
}

/* A matrix transpose whose only use is a matmul's operand joins the matmul's kernel (a
 * kernel of its own otherwise): the matmul reads the transpose's operand with swapped
 * strides (A·Bᵀ, Aᵀ·B), so the transposed copy is never written. `next` is the last kernel
 * number given; returns the new last. */
static int fuse_transposes(ir_func *f, int next) {
  size_t n = (size_t)f->next_id + 1;
  int *uses = calloc(n, sizeof(int));
  IR_ASSERT(uses);
  for (int i = 0; i < f->nbody; i++)
    for (int a = 0; a < f->body[i]->nargs; a++) uses[f->body[i]->args[a]->id]++;
  for (int i = 0; i < f->noutputs; i++) uses[f->outputs[i].value->id] += 2;
  for (int i = 0; i < f->nupdates; i++) uses[f->updates[i].value->id] += 2;
  for (int i = 0; i < f->nbody; i++) {
    ir_node *mm = f->body[i];
    if (mm->op != IR_OP_MATMUL || mm->kernel > 0 || mm->type.rank != 2) continue;
    int k = 0;
    for (int a = 0; a < mm->nargs; a++) {
      ir_node *t = mm->args[a];
      bool twice = a == 1 && mm->args[0] == t;
      if (!is_transpose_2d(t) || t->kernel > 0 || uses[t->id] != (twice ? 2 : 1)) continue;
      if (!k) k = ++next;
      t->kernel = k;
    }
    if (k) mm->kernel = k;
  }
  free(uses);
  return next;
}

/* Whether x is one of f's outputs or update values (stored whatever the kernels are). */
static bool leaves_func(const ir_func *f, const ir_node *x) {
  for (int i = 0; i < f->noutputs; i++)
    if (f->outputs[i].value == x) return true;
  return ir_func_is_update_value(f, x);
}

/* Whether x's value is in memory whatever happens to its user `but`: it is not a kernel's
 * member, or leaves the function, or has another user outside its kernel. */
static bool stored_anyway(const ir_func *f, const ir_node *x, const ir_node *but) {
  if (is_source(x)) return true;
  if (x->kernel <= 0 || leaves_func(f, x)) return true;
  for (int i = 0; i < f->nbody; i++) {
    const ir_node *u = f->body[i];
    if (u == but) continue;
    for (int a = 0; a < u->nargs; a++)
      if (u->args[a] == x && (u->kernel <= 0 || u->kernel != x->kernel)) return true;
  }
  return false;
}

/* The one kernel all of x's users are in, fitting x's shape as an iteration space, or 0. */
static int consumers_kernel(const ir_func *f, const ir_node *x) {
  int k = 0;
  for (int i = 0; i < f->nbody; i++) {
    const ir_node *u = f->body[i];
    bool uses = false;
    for (int a = 0; a < u->nargs; a++) uses = uses || u->args[a] == x;
    if (!uses) continue;
    bool fits = (is_pointwise(u) && ir_shape_equal(&u->type, &x->type)) || (is_reduce(u) && u->args[0] == x);
    if (u->kernel <= 0 || !fits || (k && u->kernel != k)) return 0;
    k = u->kernel;
  }
  return k;
}

/* A pointwise member whose operands are stored anyway and whose users are all in one other
 * kernel moves into that kernel: computed where it is used, it is never stored. The relu
 * mask of the backward pass (y > 0, y stored for the weight gradient) is the case: the
 * forward kernel then stores y alone, as eval_loss's and forward's do, and is their code. */
static void sink_into_consumers(ir_func *f, bool *in, bool *reach) {
  for (int i = 0; i < f->nbody; i++) {
    ir_node *x = f->body[i];
    if (x->kernel <= 0 || !is_pointwise(x) || is_source(x) || leaves_func(f, x)) continue;
    int ku = consumers_kernel(f, x);
    if (ku <= 0 || ku == x->kernel) continue;
    bool operands_stored = true;
    for (int a = 0; a < x->nargs; a++) operands_stored = operands_stored && stored_anyway(f, x->args[a], x);
    if (!operands_stored) continue;
    for (int k = 0; k < f->nbody; k++) in[f->body[k]->id] = f->body[k]->kernel == ku || f->body[k] == x;
    if (!convex(f, in, reach)) continue;
    x->kernel = ku;
  }
}


/* Kernel kg can be a matmul's epilogue: pointwise ops (and sources) of the matmul's shape,
 * no reduction, no other matmul. */
static bool epilogue_fits(const ir_func *f, int kg, const ir_node *mm) {
  for (int i = 0; i < f->nbody; i++) {
    const ir_node *x = f->body[i];
    if (x->kernel != kg || is_source(x)) continue;
    if (!is_pointwise(x)) return false;
    if (!ir_shape_equal(&x->type, &mm->type)) return false;
  }
  return true;
}

/* Kernel kg ends in reductions of what it computes pointwise at the matmul's shape, and each
 * value the reductions read is stored anyway (another kernel reads it: the masked gradient
 * that the weight gradient's matmul reads, beside its bias gradient). The pointwise part can
 * then be the matmul's epilogue, the reductions a kernel of their own that reads the stored
 * value: the product itself is never stored, and nothing is stored that was not before. */
static bool epilogue_splits(const ir_func *f, int kg, const ir_node *mm) {
  bool any = false;
  for (int i = 0; i < f->nbody; i++) {
    const ir_node *x = f->body[i];
    if (x->kernel != kg || is_source(x)) continue;
    if (!is_reduce(x)) {
      if (!is_pointwise(x) || !ir_shape_equal(&x->type, &mm->type)) return false;
      continue;
    }
    const ir_node *v = x->args[0];
    if (v->kernel != kg || !stored_anyway(f, v, x)) return false;
    any = true;
  }
  return any;
}

/* Whether x goes to the matmul's kernel: mm itself, a member of its kernel km (its
 * transposes, 0 for none), or a member of kg but for kg's reductions when kg splits. */
static bool joins_matmul(const ir_node *x, const ir_node *mm, int km, int kg, bool split) {
  return x == mm || (km > 0 && x->kernel == km) || (x->kernel == kg && !(split && is_reduce(x)));
}

/* Merging matmul mm into kernel kg (split: kg's pointwise part only) keeps the kernels
 * convex. */
static bool epilogue_convex(const ir_func *f, const ir_node *mm, int km, int kg, bool split, bool *in, bool *reach) {
  for (int i = 0; i < f->nbody; i++) in[f->body[i]->id] = joins_matmul(f->body[i], mm, km, kg, split);
  return convex(f, in, reach);
}

/* A 2-D f32 matmul joins the elementwise kernel that consumes it (bias add, activation, the
 * activation's mask for the backward pass, an optimiser's update from a weight gradient): the
 * matmul's kernel computes those on each tile of C after its last k block, while the tile is
 * in cache, and stores only what the kernel must store; the product itself is stored only if
 * something outside the kernel reads it. A consumer that ends in reductions gives the matmul
 * its pointwise part and keeps the reductions (epilogue_splits): W4's relu masks of the
 * backward pass, 8 -> 6 MB of memory traffic each. `next` is the last kernel number given;
 * returns the new last.
 * Sources have no kernel yet here: they join their users' kernel afterwards. */
static int fuse_epilogues(ir_func *f, int next) {
  size_t n = (size_t)f->next_id + 1;
  bool *in = calloc(n, sizeof(bool)), *reach = calloc(n, sizeof(bool));
  IR_ASSERT(in && reach);
  for (int i = 0; i < f->nbody; i++) {
    ir_node *mm = f->body[i];
    if (mm->op != IR_OP_MATMUL || mm->type.rank != 2 || mm->type.dtype != IR_F32) continue;
    int km = mm->kernel;
    for (int j = i + 1; j < f->nbody; j++) {
      const ir_node *u = f->body[j];
      int kg = u->kernel;
      bool uses = false;
      for (int a = 0; a < u->nargs; a++) uses = uses || u->args[a] == mm;
      if (!uses || kg <= 0 || kg == km) continue;
      bool split = !epilogue_fits(f, kg, mm);
      if (split && !epilogue_splits(f, kg, mm)) continue;
      if (!epilogue_convex(f, mm, km, kg, split, in, reach)) continue;
      int to = split ? ++next : kg;
      for (int k = 0; k < f->nbody; k++)
        if (joins_matmul(f->body[k], mm, km, kg, split)) f->body[k]->kernel = to;
      break;
    }
  }
  free(in);
  free(reach);
  return next;
}

static void fuse_func(ir_func *f) {
  fuser fu = {.f = f, .n = f->next_id};
  size_t n = (size_t)fu.n + 1;
  fu.parent = malloc(n * sizeof(int));
  fu.space = calloc(n, sizeof(ir_type));
  fu.has_reduce = calloc(n, sizeof(bool));
  fu.in = calloc(n, sizeof(bool));
  fu.reach = calloc(n, sizeof(bool));
  int *number = malloc(n * sizeof(int));
  IR_ASSERT(fu.parent && fu.space && fu.has_reduce && fu.in && fu.reach && number);
  for (size_t i = 0; i < n; i++) fu.parent[i] = -1, number[i] = 0;
  for (int i = 0; i < f->nbody; i++) {
    ir_node *x = f->body[i];
    x->kernel = 0;
    if (!is_fusable(x) || is_source(x)) continue;
    fu.parent[x->id] = x->id;
    fu.space[x->id] = is_reduce(x) ? x->args[0]->type : x->type;
    fu.has_reduce[x->id] = is_reduce(x);
  }
  for (int i = 0; i < f->nbody; i++) {
    const ir_node *x = f->body[i];
    if (fu.parent[x->id] < 0) continue;
    for (int a = 0; a < x->nargs; a++) try_merge(&fu, x, x->args[a]);
  }
  /* Number the kernels in body order. */
  int next = 0;
  for (int i = 0; i < f->nbody; i++) {
    ir_node *x = f->body[i];
    if (fu.parent[x->id] < 0) continue;
    int r = find(&fu, x->id);
    if (!number[r]) number[r] = ++next;
    x->kernel = number[r];
  }
  next = fuse_transposes(f, next);
  sink_into_consumers(f, fu.in, fu.reach);
  next = fuse_epilogues(f, next);
  /* Sources join their users' kernel when they have exactly one and no other use. */
  int *kernel_of_users = malloc(n * sizeof(int));
  IR_ASSERT(kernel_of_users);
  for (size_t i = 0; i < n; i++) kernel_of_users[i] = 0;
  for (int i = 0; i < f->nbody; i++) {
    const ir_node *x = f->body[i];
    for (int a = 0; a < x->nargs; a++) {
      const ir_node *s = x->args[a];
      if (!is_source(s)) continue;
      int k = x->kernel > 0 ? x->kernel : -1;
      if (kernel_of_users[s->id] == 0)
        kernel_of_users[s->id] = k;
      else if (kernel_of_users[s->id] != k)
        kernel_of_users[s->id] = -1;
    }
  }
  for (int i = 0; i < f->noutputs; i++) kernel_of_users[f->outputs[i].value->id] = -1;
  for (int i = 0; i < f->nupdates; i++) kernel_of_users[f->updates[i].value->id] = -1;
  for (int i = 0; i < f->nbody; i++) {
    ir_node *x = f->body[i];
    if (is_source(x) && kernel_of_users[x->id] > 0) x->kernel = kernel_of_users[x->id];
  }
  /* Sinking may have emptied a kernel: number them again, in body order, without gaps. */
  for (size_t i = 0; i < n; i++) number[i] = 0;
  int renumbered = 0;
  for (int i = 0; i < f->nbody; i++) {
    ir_node *x = f->body[i];
    if (x->kernel <= 0) continue;
    if (!number[x->kernel]) number[x->kernel] = ++renumbered;
    x->kernel = number[x->kernel];
  }
  free(kernel_of_users);
  free(number);
  free(fu.parent);
  free(fu.space);
  free(fu.has_reduce);
  free(fu.in);
  free(fu.reach);
}

bool pass_fuse(ir_module *m, ir_error *err) {
  (void)err;
  for (int i = 0; i < m->nfuncs; i++) fuse_func(m->funcs[i]);
  return true;
}

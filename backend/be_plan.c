/* The plan of one entry: which nodes it computes (those the entry's outputs and updates
 * need: dead-code elimination without copying the function), its kernels (the fuse pass's
 * groups; every other node a kernel of its own), their order, and every buffer:
 *
 *   arguments        INPUT from frame->inputs[i] (@apply's grad.<p> from frame->grads),
 *                    PARAM from frame->params, STATE from frame->state, at the desc's offsets;
 *   outputs          `loss`, `prediction` and `grad.<p>` are written where the frame wants
 *                    them by the kernel that computes them;
 *   updates          written in place when that is safe (the kernel reads the old value at
 *                    the same index it writes, and every other reader runs earlier), else
 *                    computed into scratch and copied over after the last kernel;
 *   reshape          a view of its operand's buffer;
 *   everything else  scratch, with offsets reused once a buffer's last reader has run;
 *   matmul kernels   their epilogue's stored members as above; the product in a buffer of
 *                    its own only when read outside the kernel, else in a stored member's
 *                    (home_products); their packed panels in scratch live for the kernel.
 *
 * A kernel's buffers are distinct memory: two values whose lifetimes overlap never share
 * scratch, which is what makes the kernels' noalias parameters true. */
#include <stdlib.h>
#include <string.h>

#include "be_internal.h"

enum { ALIGN = 64, PANELS = -1000000 };

static size_t align_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }
static size_t bytes_of(const ir_type *t) { return (size_t)ir_type_numel(t) * ir_dtype_size(t->dtype); }
static bool is_source(const ir_node *n) { return n->op == IR_OP_CONST || n->op == IR_OP_IOTA; }
static bool is_arg(const ir_node *n) { return ir_ops[n->op].kind == IR_KIND_ARG; }

typedef struct {
  be_plan *p;
  const ir_func *f;
  int *pos;          /* by id: body position (-1 for arguments) */
  bool *alias;       /* by id: a reshape that views its operand's buffer */
  bool *homed;       /* by id: loc already fixed (argument, output, in-place update) */
  int **users;       /* by id: live users (body nodes) */
  int *nusers;
  ir_node **byid;
  int *acc_home;     /* by id: a matmul whose product lives in this member's buffer, else -1 */
} planner;

/* The node whose buffer a view reads: through chains of aliasing reshapes. */
static const ir_node *root_of(planner *pl, const ir_node *n) {
  while (pl->alias[n->id]) n = n->args[0];
  return n;
}

static bool fail(ir_error *err, const ir_func *f, const char *msg, const ir_node *n) {
  char where[64] = "";
  if (n) snprintf(where, sizeof where, " (%%%d, %s)", n->id, ir_ops[n->op].name);
  ir_error_set(err, n ? n->loc : (ir_loc){0, 0}, "backend: @%s: %s%s", f->name, msg, where);
  return false;
}

static void add_user(planner *pl, const ir_node *n, const ir_node *user) {
  int id = n->id;
  pl->users[id] = realloc(pl->users[id], sizeof(int) * (size_t)(pl->nusers[id] + 1));
  IR_ASSERT(pl->users[id]);
  pl->users[id][pl->nusers[id]++] = user->id;
}

/* ---- liveness and grouping ------------------------------------------------------------ */

static void mark_live(planner *pl, const be_entry_spec *spec) {
  const ir_func *f = pl->f;
  bool *live = pl->p->live;
  for (int i = 0; i < f->noutputs; i++)
    if (spec->keep_output(f->outputs[i].name)) live[f->outputs[i].value->id] = true;
  if (spec->keep_updates)
    for (int i = 0; i < f->nupdates; i++) {
      live[f->updates[i].value->id] = true;
      live[f->updates[i].target->id] = true;
    }
  for (int i = f->nbody - 1; i >= 0; i--) {
    const ir_node *n = f->body[i];
    if (!live[n->id]) continue;
    for (int a = 0; a < n->nargs; a++) live[n->args[a]->id] = true;
  }
}

static be_kernel_kind kind_of(const ir_node *n) {
  switch (ir_ops[n->op].kind) {
  case IR_KIND_REDUCE: return BE_K_REDUCE;
  case IR_KIND_SOFTMAX: return BE_K_SOFTMAX;
  case IR_KIND_CONTRACT: return BE_K_MATMUL;
  default: return BE_K_ELEMENTWISE;
  }
}

static int new_group(be_plan *p, int kernel) {
  p->groups = realloc(p->groups, sizeof *p->groups * (size_t)(p->ngroups + 1));
  IR_ASSERT(p->groups);
  be_group *g = &p->groups[p->ngroups];
  memset(g, 0, sizeof *g);
  g->kind = BE_K_ELEMENTWISE;
  g->kernel = kernel;
  return p->ngroups++;
}

static bool join(be_plan *p, int gi, ir_node *n, ir_error *err) {
  be_group *g = &p->groups[gi];
  g->nodes = realloc(g->nodes, sizeof *g->nodes * (size_t)(g->nnodes + 1));
  IR_ASSERT(g->nodes);
  g->nodes[g->nnodes++] = n;
  p->group_of[n->id] = gi;
  if (kind_of(n) != BE_K_ELEMENTWISE) {
    if (g->sink) return fail(err, p->f, "a fused kernel holds two reductions, softmaxes or matmuls", n);
    g->sink = n;
    g->kind = kind_of(n);
  }
  return true;
}

static bool form_groups(planner *pl, ir_error *err) {
  be_plan *p = pl->p;
  const ir_func *f = pl->f;
  int maxk = 0;
  for (int i = 0; i < f->nbody; i++)
    if (f->body[i]->kernel > maxk) maxk = f->body[i]->kernel;
  int *by_kernel = malloc(sizeof(int) * (size_t)(maxk + 1));
  IR_ASSERT(by_kernel);
  for (int i = 0; i <= maxk; i++) by_kernel[i] = -1;
  bool ok = true;
  for (int i = 0; ok && i < f->nbody; i++) {
    ir_node *n = f->body[i];
    if (!p->live[n->id]) continue;
    if (n->kernel > 0) {
      if (by_kernel[n->kernel] < 0) by_kernel[n->kernel] = new_group(p, n->kernel);
      ok = join(p, by_kernel[n->kernel], n, err);
    } else if (n->op == IR_OP_RESHAPE && !is_source(root_of(pl, n->args[0]))) {
      pl->alias[n->id] = true;
    } else if (!is_source(n)) {
      ok = join(p, new_group(p, 0), n, err);
    }
  }
  free(by_kernel);
  return ok;
}

/* ---- materialisation ------------------------------------------------------------------ */

static void collect_users(planner *pl) {
  const ir_func *f = pl->f;
  for (int i = 0; i < f->nbody; i++) {
    ir_node *n = f->body[i];
    if (!pl->p->live[n->id]) continue;
    for (int a = 0; a < n->nargs; a++) add_user(pl, n->args[a], n);
  }
}

/* Sources that must exist in memory (an output, an update, a view's operand) become
 * kernels of their own. */
static void materialise_source(planner *pl, ir_node *n) {
  be_plan *p = pl->p;
  if (p->group_of[n->id] < 0) {
    ir_error ignored;
    join(p, new_group(p, 0), n, &ignored);
  }
  p->materialize[n->id] = true;
}

static bool decide_materialised(planner *pl, const be_entry_spec *spec, ir_error *err) {
  be_plan *p = pl->p;
  const ir_func *f = pl->f;
  for (int i = 0; i < f->nbody; i++) {
    ir_node *n = f->body[i];
    if (!p->live[n->id] || pl->alias[n->id]) continue;
    int g = p->group_of[n->id];
    bool sink = g >= 0 && p->groups[g].sink == n;
    /* A matmul's epilogue (the members of its kernel) reads the product tile by tile; the
     * product needs a buffer of its own only when something else reads it. */
    bool epilogue = sink && p->groups[g].kind == BE_K_MATMUL;
    if (sink && !epilogue) p->materialize[n->id] = true;
    for (int u = 0; u < pl->nusers[n->id]; u++) {
      const ir_node *user = pl->byid[pl->users[n->id][u]];
      if (pl->alias[user->id] || (!is_source(n) && p->group_of[user->id] != g))
        p->materialize[n->id] = true;
      if (sink && !epilogue && p->group_of[user->id] == g)
        return fail(err, f, "a fused kernel uses its own reduction's result", user);
    }
    if (p->materialize[n->id] && is_source(n)) materialise_source(pl, n);
  }
  /* Roots: outputs and updates. */
  for (int i = 0; i < f->noutputs; i++) {
    ir_node *v = f->outputs[i].value;
    if (!spec->keep_output(f->outputs[i].name) || is_arg(v) || pl->alias[v->id]) continue;
    if (is_source(v)) materialise_source(pl, v);
    p->materialize[v->id] = true;
  }
  if (spec->keep_updates)
    for (int i = 0; i < f->nupdates; i++) {
      ir_node *v = f->updates[i].value;
      if (is_arg(v) || pl->alias[v->id]) continue;
      if (is_source(v)) materialise_source(pl, v);
      p->materialize[v->id] = true;
    }
  return true;
}

/* A matmul whose product nothing outside its kernel reads still needs memory for its partial
 * sums: the buffer of a member its epilogue stores, of the product's type (each element of
 * it is read, as the product, before it is written, as the member). Not an update's value:
 * written in place, its buffer is the parameter that the epilogue reads after the partial
 * sums are done. Else, when K is one block, a row of tiles at a time in the kernel's panel
 * scratch (W3's weight gradient before its SGD update: 784 KiB less scratch, that the step
 * no longer writes). Else a buffer of its own. */
static void home_products(planner *pl) {
  be_plan *p = pl->p;
  for (int gi = 0; gi < p->ngroups; gi++) {
    const be_group *g = &p->groups[gi];
    const ir_node *mm = g->sink;
    if (g->kind != BE_K_MATMUL || p->materialize[mm->id]) continue;
    for (int i = 0; i < g->nnodes && pl->acc_home[mm->id] < 0; i++) {
      const ir_node *m = g->nodes[i];
      if (m != mm && p->materialize[m->id] && ir_type_equal(&m->type, &mm->type) && !ir_func_is_update_value(pl->f, m))
        pl->acc_home[mm->id] = m->id;
    }
    if (pl->acc_home[mm->id] < 0 && be_matmul_can_stage(p, gi)) {
      p->groups[gi].staged_product = true;
      continue;
    }
    p->materialize[mm->id] = true;
    if (pl->acc_home[mm->id] >= 0) pl->homed[mm->id] = true;
  }
}

/* Every group gets its iteration space; materialised members must all fill it. */
static bool check_groups(planner *pl, ir_error *err) {
  be_plan *p = pl->p;
  for (int gi = 0; gi < p->ngroups; gi++) {
    be_group *g = &p->groups[gi];
    const ir_node *shape_from = NULL;
    if (g->sink && g->kind != BE_K_MATMUL) {
      g->space = g->sink->args[0]->type;
      shape_from = g->sink;
    }
    for (int i = 0; i < g->nnodes; i++) {
      const ir_node *n = g->nodes[i];
      if (n == g->sink || !p->materialize[n->id]) continue;
      if (g->kind == BE_K_MATMUL && !ir_shape_equal(&g->sink->type, &n->type))
        return fail(err, pl->f, "a matmul kernel stores a value of another shape than its product", n);
      if (!shape_from) {
        g->space = n->type;
        shape_from = n;
      } else if (!ir_shape_equal(&g->space, &n->type)) {
        char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX], msg[300];
        snprintf(msg, sizeof msg, "kernel(%d) stores values of shapes %s and %s in one loop nest",
                 g->kernel, ir_shape_str(&g->space, a, sizeof a), ir_shape_str(&n->type, b, sizeof b));
        return fail(err, pl->f, msg, n);
      }
    }
    if (g->kind == BE_K_MATMUL) g->space = g->sink->type;
  }
  return true;
}

/* ---- schedule ------------------------------------------------------------------------- */

/* Groups whose buffers group gi reads: through operands of its members that it does not
 * compute itself, looking through views. */
static void for_each_read(planner *pl, int gi, void (*fn)(planner *, int gi, const ir_node *read, void *),
                          void *arg) {
  be_group *g = &pl->p->groups[gi];
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *m = g->nodes[i];
    for (int a = 0; a < m->nargs; a++) {
      const ir_node *x = m->args[a];
      if (is_source(x) || pl->p->group_of[x->id] == gi) continue;
      fn(pl, gi, root_of(pl, x), arg);
    }
  }
}

static void count_dep(planner *pl, int gi, const ir_node *read, void *arg) {
  int *indeg = arg;
  int h = pl->p->group_of[read->id];
  if (h >= 0 && h != gi) indeg[gi]++;
}

static bool schedule(planner *pl, ir_error *err) {
  be_plan *p = pl->p;
  int ng = p->ngroups;
  int *indeg = calloc((size_t)ng + 1, sizeof(int)), *last = calloc((size_t)ng + 1, sizeof(int));
  int *order = malloc(sizeof(int) * ((size_t)ng + 1));
  bool *done = calloc((size_t)ng + 1, sizeof(bool));
  IR_ASSERT(indeg && last && order && done);
  for (int gi = 0; gi < ng; gi++) {
    for (int i = 0; i < p->groups[gi].nnodes; i++)
      if (pl->pos[p->groups[gi].nodes[i]->id] > last[gi]) last[gi] = pl->pos[p->groups[gi].nodes[i]->id];
    for_each_read(pl, gi, count_dep, indeg);
  }
  /* Kahn's algorithm, ready groups taken in the order of the body. */
  bool ok = true;
  for (int k = 0; k < ng; k++) {
    int best = -1;
    for (int gi = 0; gi < ng; gi++)
      if (!done[gi] && indeg[gi] == 0 && (best < 0 || last[gi] < last[best])) best = gi;
    if (best < 0) {
      ok = fail(err, pl->f, "fused kernels depend on each other (a kernel is not convex)", NULL);
      break;
    }
    done[best] = true;
    order[k] = best;
    /* Release the groups that read best's values: one count per read edge. */
    for (int gi = 0; gi < ng; gi++) {
      if (done[gi]) continue;
      be_group *g = &p->groups[gi];
      for (int i = 0; i < g->nnodes; i++)
        for (int a = 0; a < g->nodes[i]->nargs; a++) {
          const ir_node *x = g->nodes[i]->args[a];
          if (is_source(x) || p->group_of[x->id] == gi) continue;
          if (p->group_of[root_of(pl, x)->id] == best) indeg[gi]--;
        }
    }
  }
  if (ok) {
    be_group *sorted = malloc(sizeof *sorted * ((size_t)ng + 1));
    IR_ASSERT(sorted);
    for (int k = 0; k < ng; k++) sorted[k] = p->groups[order[k]];
    for (int k = 0; k < ng; k++)
      for (int i = 0; i < sorted[k].nnodes; i++) p->group_of[sorted[k].nodes[i]->id] = k;
    free(p->groups);
    p->groups = sorted;
  }
  free(indeg);
  free(last);
  free(order);
  free(done);
  return ok;
}

/* ---- buffers -------------------------------------------------------------------------- */

static bool arg_locs(planner *pl, const be_model *model, ir_error *err) {
  be_plan *p = pl->p;
  const ir_func *f = pl->f;
  const dlc_model_desc *d = &model->desc;
  for (int i = 0; i < f->nargs; i++) {
    const ir_node *a = f->args[i];
    be_loc *l = &p->loc[a->id];
    int idx;
    const dlc_tensor_desc *t = NULL;
    if (a->op == IR_OP_INPUT) {
      t = be_model_find(d->inputs, d->ninputs, a->name, &idx);
      if (t) {
        *l = (be_loc){BE_BASE_INPUT, idx, 0};
      } else if (strncmp(a->name, "grad.", 5) == 0 &&
                 (t = be_model_find(d->params, d->nparams, a->name + 5, &idx))) {
        *l = (be_loc){BE_BASE_GRADS, 0, t->offset};
      } else {
        return fail(err, f, "input is neither a model input nor a gradient of a parameter", a);
      }
    } else {
      bool param = a->op == IR_OP_PARAM;
      t = param ? be_model_find(d->params, d->nparams, a->name, &idx)
                : be_model_find(d->state, d->nstate, a->name, &idx);
      if (!t) return fail(err, f, "argument missing from the model description", a);
      *l = (be_loc){param ? BE_BASE_PARAMS : BE_BASE_STATE, 0, t->offset};
    }
    int64_t numel = 1;
    for (int d = 0; d < t->rank; d++) numel *= t->shape[d];
    if (t->dtype != (int)a->type.dtype || numel != ir_type_numel(&a->type))
      return fail(err, f, "argument's type differs from the model description's", a);
    pl->homed[a->id] = true;
  }
  return true;
}

static bool output_dest(planner *pl, const be_model *model, const ir_output *o, be_loc *dst,
                        ir_error *err) {
  const ir_type *t = &o->value->type;
  if (strcmp(o->name, "loss") == 0) {
    if (t->dtype != IR_F32 || ir_type_numel(t) != 1)
      return fail(err, pl->f, "output loss must be one f32", o->value);
    *dst = (be_loc){BE_BASE_LOSS, 0, 0};
    return true;
  }
  if (strcmp(o->name, "prediction") == 0) {
    const dlc_tensor_desc *pd = &model->desc.prediction;
    int64_t numel = 1;
    for (int d = 0; d < pd->rank; d++) numel *= pd->shape[d];
    if (pd->dtype != (int)t->dtype || numel != ir_type_numel(t))
      return fail(err, pl->f, "output prediction differs from @forward's", o->value);
    *dst = (be_loc){BE_BASE_PRED, 0, 0};
    return true;
  }
  int idx;
  const dlc_tensor_desc *pt = strncmp(o->name, "grad.", 5) == 0
                                  ? be_model_find(model->desc.params, model->desc.nparams, o->name + 5, &idx)
                                  : NULL;
  if (!pt) return fail(err, pl->f, "output has no place in the frame", o->value);
  if (pt->dtype != (int)t->dtype) return fail(err, pl->f, "gradient's dtype differs from its parameter's", o->value);
  *dst = (be_loc){BE_BASE_GRADS, 0, pt->offset};
  return true;
}

static void add_copy(be_copy **list, int *n, be_loc src, be_loc dst, size_t bytes) {
  *list = realloc(*list, sizeof **list * (size_t)(*n + 1));
  IR_ASSERT(*list);
  (*list)[(*n)++] = (be_copy){src, dst, bytes};
}

/* Readers of a buffer, as groups, looking through views; fn returns false to stop. */
typedef bool (*reader_fn)(planner *pl, const ir_node *reader, bool direct, void *arg);
static bool each_reader(planner *pl, const ir_node *n, bool direct, reader_fn fn, void *arg) {
  for (int u = 0; u < pl->nusers[n->id]; u++) {
    const ir_node *user = pl->byid[pl->users[n->id][u]];
    bool ok = pl->alias[user->id] ? each_reader(pl, user, false, fn, arg) : fn(pl, user, direct, arg);
    if (!ok) return false;
  }
  return true;
}

typedef struct {
  int group;
  const ir_type *t;
} inplace_ctx;

/* Reads of the old value: earlier kernels, or the writing kernel itself at the same index. */
static bool reader_allows_inplace(planner *pl, const ir_node *r, bool direct, void *arg) {
  inplace_ctx *x = arg;
  int g = pl->p->group_of[r->id];
  if (g < x->group) return true;
  if (g > x->group) return false;
  bool pointwise = be_scalar_emitter(r->op) || r->op == IR_OP_BROADCAST;
  return direct && pointwise && ir_shape_equal(&r->type, x->t);
}

/* A member of a matmul kernel that is not evaluated at C's index by the epilogue: the
 * product, and a transpose it reads its operand through. */
static bool feeds_product(const be_group *grp, const ir_node *mem) {
  const ir_node *mm = grp->sink;
  return mem == mm || (mem->op == IR_OP_TRANSPOSE && (mm->args[0] == mem || mm->args[1] == mem));
}

static bool try_inplace(planner *pl, const ir_update *u) {
  be_plan *p = pl->p;
  const ir_node *v = u->value, *t = u->target;
  if (is_arg(v) || pl->alias[v->id] || pl->homed[v->id] || !p->materialize[v->id]) return false;
  int g = p->group_of[v->id];
  if (g < 0 || !ir_type_equal(&v->type, &t->type)) return false;
  const be_group *grp = &p->groups[g];
  bool epilogue = grp->kind == BE_K_MATMUL;
  if ((grp->kind != BE_K_ELEMENTWISE && !epilogue) || (epilogue && feeds_product(grp, v))) return false;
  /* Every member is then evaluated at the loop's own index (a matmul's epilogue: at C's), so
   * the kernel reads each old element exactly where it writes the new one. */
  for (int i = 0; i < grp->nnodes; i++) {
    const ir_node *mem = grp->nodes[i];
    if (is_source(mem) || (epilogue && feeds_product(grp, mem))) continue;
    bool pointwise = be_scalar_emitter(mem->op) || mem->op == IR_OP_BROADCAST;
    if (!pointwise || !ir_shape_equal(&mem->type, &t->type)) return false;
  }
  inplace_ctx x = {g, &t->type};
  if (!each_reader(pl, t, true, reader_allows_inplace, &x)) return false;
  p->loc[v->id] = p->loc[t->id];
  pl->homed[v->id] = true;
  return true;
}

/* ---- scratch -------------------------------------------------------------------------- */

typedef struct {
  int id;          /* node id; -2 - k for snapshot k; PANELS - g for kernel g's packed panels */
  size_t bytes;
  int start, end;  /* schedule positions, inclusive; -1 = before the first kernel */
  size_t offset;
} interval;

static bool last_reader(planner *pl, const ir_node *r, bool direct, void *arg) {
  int *end = arg;
  int g = pl->p->group_of[r->id];
  if (g > *end) *end = g;
  return true;
}

static int by_size_desc(const void *a, const void *b) {
  const interval *x = a, *y = b;
  if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
  return x->start - y->start;
}

static int by_offset(const void *a, const void *b) {
  const interval *const *x = a, *const *y = b;
  return (*x)->offset < (*y)->offset ? -1 : (*x)->offset > (*y)->offset;
}

/* Greedy by size: each buffer at the lowest offset free during its whole lifetime. */
static size_t place(interval *iv, int n) {
  qsort(iv, (size_t)n, sizeof *iv, by_size_desc);
  interval **busy = malloc(sizeof *busy * ((size_t)n + 1));
  IR_ASSERT(busy);
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    int nb = 0;
    for (int j = 0; j < i; j++)
      if (iv[j].start <= iv[i].end && iv[i].start <= iv[j].end) busy[nb++] = &iv[j];
    qsort(busy, (size_t)nb, sizeof *busy, by_offset);
    size_t off = 0;
    for (int j = 0; j < nb; j++) {
      if (off + iv[i].bytes <= busy[j]->offset) break;
      size_t end = align_up(busy[j]->offset + busy[j]->bytes);
      if (end > off) off = end;
    }
    iv[i].offset = off;
    if (off + iv[i].bytes > total) total = off + iv[i].bytes;
  }
  free(busy);
  return align_up(total);
}

/* Keeps the placed intervals for reports, and the most bytes live at one kernel. */
static void record_buffers(be_plan *p, const interval *iv, int n) {
  p->buffers = malloc(sizeof *p->buffers * ((size_t)n + 1));
  IR_ASSERT(p->buffers);
  p->nbuffers = n;
  for (int i = 0; i < n; i++)
    p->buffers[i] = (be_buffer){iv[i].id <= PANELS ? -2 - (PANELS - iv[i].id) : iv[i].id < 0 ? -1 : iv[i].id,
                                iv[i].bytes, iv[i].offset, iv[i].start, iv[i].end};
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && p->buffers[j].offset < p->buffers[j - 1].offset; j--) {
      be_buffer t = p->buffers[j];
      p->buffers[j] = p->buffers[j - 1];
      p->buffers[j - 1] = t;
    }
  p->live_max_bytes = 0;
  for (int at = -1; at <= p->ngroups; at++) {
    size_t live = 0;
    for (int i = 0; i < n; i++)
      if (iv[i].start <= at && at <= iv[i].end) live += iv[i].bytes;
    if (live > p->live_max_bytes) p->live_max_bytes = live;
  }
}

static void plan_scratch(planner *pl, interval *snap, int nsnap) {
  be_plan *p = pl->p;
  int cap = nsnap + p->ngroups + 1, n = 0;
  for (int i = 0; i < p->nids; i++) cap += p->materialize[i];
  interval *iv = calloc((size_t)cap, sizeof *iv);
  IR_ASSERT(iv);
  for (int i = 0; i < nsnap; i++) iv[n++] = snap[i];
  /* A matmul's packed panels live while its kernel runs: planned like any buffer, so a step
   * allocates nothing and cannot run out of memory half-way. */
  for (int gi = 0; gi < p->ngroups; gi++) {
    be_group *g = &p->groups[gi];
    g->panel_bytes = g->kind == BE_K_MATMUL ? be_matmul_panel_bytes(p, gi) : 0;
    if (g->panel_bytes > 0) iv[n++] = (interval){PANELS - gi, g->panel_bytes, gi, gi, 0};
  }
  bool *ends = calloc((size_t)p->nids + 1, sizeof(bool));
  IR_ASSERT(ends);
  for (int i = 0; i < p->nend; i++)
    if (p->end_copies[i].src.base == BE_BASE_SCRATCH) ends[p->end_copies[i].src.input] = true;
  for (int id = 0; id < p->nids; id++) {
    if (!p->materialize[id] || pl->homed[id]) continue;
    const ir_node *nd = pl->byid[id];
    int start = p->group_of[id], end = start;
    each_reader(pl, nd, true, last_reader, &end);
    if (ends[id]) end = p->ngroups;
    iv[n++] = (interval){id, bytes_of(&nd->type), start, end, 0};
  }
  free(ends);
  p->scratch_bytes = place(iv, n);
  record_buffers(p, iv, n);
  for (int i = 0; i < n; i++) {
    if (iv[i].id >= 0) {
      p->loc[iv[i].id] = (be_loc){BE_BASE_SCRATCH, 0, iv[i].offset};
    } else if (iv[i].id <= PANELS) {
      p->groups[PANELS - iv[i].id].panel = (be_loc){BE_BASE_SCRATCH, 0, iv[i].offset};
    } else {
      snap[-iv[i].id - 2].offset = iv[i].offset;
    }
  }
  free(iv);
}

/* ---- the whole plan ------------------------------------------------------------------- */

static bool plan_copies_and_buffers(planner *pl, const be_entry_spec *spec, const be_model *model,
                                    ir_error *err) {
  be_plan *p = pl->p;
  const ir_func *f = pl->f;
  /* Outputs go straight where the frame wants them when their kernel can write there. */
  be_loc out_dst[f->noutputs + 1];
  bool out_direct[f->noutputs + 1];
  for (int i = 0; i < f->noutputs; i++) {
    out_direct[i] = false;
    if (!spec->keep_output(f->outputs[i].name)) continue;
    if (!output_dest(pl, model, &f->outputs[i], &out_dst[i], err)) return false;
    const ir_node *v = f->outputs[i].value;
    if (!is_arg(v) && !pl->alias[v->id] && !pl->homed[v->id]) {
      p->loc[v->id] = out_dst[i];
      pl->homed[v->id] = true;
      out_direct[i] = true;
    }
  }
  bool in_place[f->nupdates + 1];
  for (int i = 0; i < f->nupdates; i++)
    in_place[i] = spec->keep_updates && try_inplace(pl, &f->updates[i]);

  /* Snapshots: an update whose value is (a view of) an argument reads it before any
   * kernel can overwrite it. Intervals use id -2 - k to find their snapshot again. */
  interval snap[f->nupdates + 1];
  int nsnap = 0;
  for (int i = 0; i < f->nupdates; i++) {
    if (!spec->keep_updates || in_place[i]) continue;
    const ir_node *root = root_of(pl, f->updates[i].value);
    if (is_arg(root))
      snap[nsnap] = (interval){-2 - nsnap, bytes_of(&root->type), -1, p->ngroups, 0}, nsnap++;
  }
  /* Scratch is planned with the end copies' sources known: mark them first (by id). */
  for (int i = 0; i < f->noutputs; i++) {
    if (!spec->keep_output(f->outputs[i].name) || out_direct[i]) continue;
    const ir_node *root = root_of(pl, f->outputs[i].value);
    if (!is_arg(root)) add_copy(&p->end_copies, &p->nend, (be_loc){BE_BASE_SCRATCH, root->id, 0},
                                out_dst[i], bytes_of(&root->type));
  }
  for (int i = 0; i < f->nupdates; i++) {
    if (!spec->keep_updates || in_place[i]) continue;
    const ir_node *root = root_of(pl, f->updates[i].value);
    if (!is_arg(root)) add_copy(&p->end_copies, &p->nend, (be_loc){BE_BASE_SCRATCH, root->id, 0},
                                p->loc[f->updates[i].target->id], bytes_of(&root->type));
  }
  plan_scratch(pl, snap, nsnap);
  for (int id = 0; id < p->nids; id++)
    if (pl->acc_home[id] >= 0) p->loc[id] = p->loc[pl->acc_home[id]];
  /* Views share their operand's buffer; end copies read the final buffers. */
  for (int i = 0; i < f->nbody; i++)
    if (pl->alias[f->body[i]->id]) p->loc[f->body[i]->id] = p->loc[root_of(pl, f->body[i])->id];
  for (int i = 0; i < p->nend; i++) p->end_copies[i].src = p->loc[p->end_copies[i].src.input];
  /* Copies from arguments happen first: outputs that are arguments, and snapshots. */
  for (int i = 0; i < f->noutputs; i++) {
    if (!spec->keep_output(f->outputs[i].name) || out_direct[i]) continue;
    const ir_node *root = root_of(pl, f->outputs[i].value);
    if (is_arg(root)) add_copy(&p->start_copies, &p->nstart, p->loc[root->id], out_dst[i], bytes_of(&root->type));
  }
  for (int i = 0, k = 0; i < f->nupdates; i++) {
    if (!spec->keep_updates || in_place[i]) continue;
    const ir_node *root = root_of(pl, f->updates[i].value);
    if (!is_arg(root)) continue;
    be_loc tmp = {BE_BASE_SCRATCH, 0, snap[k++].offset};
    add_copy(&p->start_copies, &p->nstart, p->loc[root->id], tmp, bytes_of(&root->type));
    add_copy(&p->end_copies, &p->nend, tmp, p->loc[f->updates[i].target->id], bytes_of(&root->type));
  }
  return true;
}

bool be_plan_build(const ir_func *f, const be_entry_spec *spec, const be_model *model,
                   be_plan *p, ir_error *err) {
  memset(p, 0, sizeof *p);
  p->f = f;
  p->nids = f->next_id;
  size_t n = (size_t)p->nids + 1;
  p->live = calloc(n, sizeof(bool));
  p->group_of = malloc(n * sizeof(int));
  p->materialize = calloc(n, sizeof(bool));
  p->loc = calloc(n, sizeof(be_loc));
  planner pl = {.p = p, .f = f};
  pl.pos = malloc(n * sizeof(int));
  pl.alias = calloc(n, sizeof(bool));
  pl.homed = calloc(n, sizeof(bool));
  pl.users = calloc(n, sizeof(int *));
  pl.nusers = calloc(n, sizeof(int));
  pl.byid = calloc(n, sizeof(ir_node *));
  pl.acc_home = malloc(n * sizeof(int));
  IR_ASSERT(p->live && p->group_of && p->materialize && p->loc && pl.pos && pl.alias && pl.homed &&
            pl.users && pl.nusers && pl.byid && pl.acc_home);
  for (size_t i = 0; i < n; i++) p->group_of[i] = -1, pl.pos[i] = -1, pl.acc_home[i] = -1;
  for (int i = 0; i < f->nargs; i++) pl.byid[f->args[i]->id] = f->args[i];
  for (int i = 0; i < f->nbody; i++) pl.byid[f->body[i]->id] = f->body[i], pl.pos[f->body[i]->id] = i;

  mark_live(&pl, spec);
  bool ok = form_groups(&pl, err);
  if (ok) collect_users(&pl);
  ok = ok && decide_materialised(&pl, spec, err);
  if (ok) home_products(&pl);
  ok = ok && check_groups(&pl, err) && schedule(&pl, err) &&
       arg_locs(&pl, model, err) && plan_copies_and_buffers(&pl, spec, model, err);
  for (size_t i = 0; i < n; i++) free(pl.users[i]);
  free(pl.users);
  free(pl.nusers);
  free(pl.byid);
  free(pl.pos);
  free(pl.alias);
  free(pl.homed);
  free(pl.acc_home);
  if (!ok) be_plan_free(p);
  return ok;
}

void be_plan_free(be_plan *p) {
  free(p->live);
  free(p->group_of);
  free(p->materialize);
  free(p->loc);
  for (int i = 0; i < p->ngroups; i++) free(p->groups[i].nodes);
  free(p->groups);
  free(p->start_copies);
  free(p->end_copies);
  free(p->buffers);
  memset(p, 0, sizeof *p);
}

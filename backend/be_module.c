/* A whole module to LLVM: the model description (inputs, parameter and state layout, the
 * prediction), and for every entry the ABI knows, one kernel function per planned kernel and
 * `void dlc_entry_<entry>(dlc_frame *)` that finds its buffers in the frame and calls them. */
#include <stdlib.h>
#include <string.h>

#include "be_internal.h"

enum { TENSOR_ALIGN = 64 };

/* ---- entries -------------------------------------------------------------------------- */

static bool keep_loss(const char *name) { return strcmp(name, "loss") == 0; }
static bool keep_prediction(const char *name) { return strcmp(name, "prediction") == 0; }
static bool keep_loss_grads(const char *name) {
  return keep_loss(name) || strncmp(name, "grad.", 5) == 0;
}
static bool keep_nothing(const char *name) {
  (void)name;
  return false;
}

/* Same order as the entry pointers of dlc_model_desc. */
const be_entry_spec be_entries[BE_NENTRIES] = {
    {"train_step", "train_step", true, keep_loss},
    {"eval_loss", "forward", false, keep_loss},
    {"forward", "forward", false, keep_prediction},
    {"gradients", "gradients", false, keep_loss_grads},
    {"apply", "apply", true, keep_nothing},
};

/* ---- the model description ------------------------------------------------------------ */

static const char *keep_string(be_model *mo, const char *s) {
  if (!s) return NULL;
  if (mo->nstrings == mo->strings_cap) {
    mo->strings_cap = mo->strings_cap ? 2 * mo->strings_cap : 32;
    mo->strings = realloc(mo->strings, sizeof(char *) * (size_t)mo->strings_cap);
    IR_ASSERT(mo->strings);
  }
  char *copy = strdup(s);
  IR_ASSERT(copy);
  mo->strings[mo->nstrings++] = copy;
  return copy;
}

const dlc_tensor_desc *be_model_find(const dlc_tensor_desc *t, int n, const char *name, int *index) {
  for (int i = 0; i < n; i++)
    if (strcmp(t[i].name, name) == 0) {
      if (index) *index = i;
      return &t[i];
    }
  return NULL;
}

static void fill_tensor(be_model *mo, dlc_tensor_desc *t, const ir_node *a) {
  memset(t, 0, sizeof *t);
  t->name = keep_string(mo, a->name);
  t->dtype = (int)a->type.dtype;
  t->rank = a->type.rank;
  for (int d = 0; d < a->type.rank; d++) t->shape[d] = a->type.dims[d];
}

/* The length of the smallest axis that integer input `name` indexes as gather's indices
 * (cross_entropy's labels), directly or through reshapes, in any function; 0 when none. */
static int64_t index_bound(const ir_module *m, const char *name) {
  int64_t bound = 0;
  for (int fi = 0; fi < m->nfuncs; fi++) {
    const ir_func *f = m->funcs[fi];
    for (int i = 0; i < f->nbody; i++) {
      const ir_node *n = f->body[i];
      if (n->op != IR_OP_GATHER) continue;
      const ir_node *idx = n->args[1];
      while (idx->op == IR_OP_RESHAPE) idx = idx->args[0];
      if (idx->op != IR_OP_INPUT || strcmp(idx->name, name) != 0) continue;
      const ir_type *x = &n->args[0]->type;
      int64_t len = x->dims[n->attrs.axis < 0 ? n->attrs.axis + x->rank : n->attrs.axis];
      if (bound == 0 || len < bound) bound = len;
    }
  }
  return bound;
}

/* Adds argument a to the list unless one of that name is there; false on a type clash. */
static bool add_tensor(be_model *mo, const ir_module *m, dlc_tensor_desc **list, int *n,
                       const ir_node *a, ir_error *err) {
  int idx;
  const dlc_tensor_desc *old = be_model_find(*list, *n, a->name, &idx);
  if (old) {
    int64_t numel = 1;
    for (int d = 0; d < old->rank; d++) numel *= old->shape[d];
    if (old->dtype != (int)a->type.dtype || numel != ir_type_numel(&a->type)) {
      ir_error_set(err, a->loc, "backend: argument %s has different types in different functions", a->name);
      return false;
    }
    return true;
  }
  *list = realloc(*list, sizeof **list * (size_t)(*n + 1));
  IR_ASSERT(*list);
  dlc_tensor_desc *t = &(*list)[(*n)++];
  fill_tensor(mo, t, a);
  if (a->op == IR_OP_INPUT && (a->type.dtype == IR_I32 || a->type.dtype == IR_I64)) {
    t->index_bound = index_bound(m, a->name);
  } else if (a->op != IR_OP_INPUT) {
    char key[300];
    snprintf(key, sizeof key, "init.%s", a->name);
    t->init = keep_string(mo, ir_module_get_meta(m, key));
  }
  return true;
}

static size_t lay_out(dlc_tensor_desc *t, int n) {
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    size_t numel = 1;
    for (int d = 0; d < t[i].rank; d++) numel *= (size_t)t[i].shape[d];
    t[i].offset = off;
    off += (numel * ir_dtype_size((ir_dtype)t[i].dtype) + TENSOR_ALIGN - 1) / TENSOR_ALIGN * TENSOR_ALIGN;
  }
  return off;
}

bool be_model_build(const ir_module *m, be_model *mo, ir_error *err) {
  memset(mo, 0, sizeof *mo);
  dlc_model_desc *d = &mo->desc;
  d->abi_version = DLC_ABI_VERSION;
  /* Inputs in @forward's order first; the other functions' own inputs after them. */
  static const char *const order[] = {"forward", "train_step", "gradients", "apply"};
  for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
    const ir_func *f = ir_module_find_func(m, order[k]);
    if (!f) continue;
    for (int i = 0; i < f->nargs; i++) {
      const ir_node *a = f->args[i];
      bool ok = true;
      if (a->op == IR_OP_INPUT && strncmp(a->name, "grad.", 5) != 0)
        ok = add_tensor(mo, m, &mo->inputs, &d->ninputs, a, err);
      else if (a->op == IR_OP_PARAM)
        ok = add_tensor(mo, m, &mo->params, &d->nparams, a, err);
      else if (a->op == IR_OP_STATE)
        ok = add_tensor(mo, m, &mo->state, &d->nstate, a, err);
      if (!ok) {
        be_model_free(mo);
        return false;
      }
    }
  }
  d->inputs = mo->inputs;
  d->params = mo->params;
  d->state = mo->state;
  d->param_bytes = lay_out(mo->params, d->nparams);
  d->state_bytes = lay_out(mo->state, d->nstate);
  int idx;
  const dlc_tensor_desc *step = be_model_find(mo->state, d->nstate, IR_STEP_COUNTER, &idx);
  d->step_counter_offset = step && step->dtype == DLC_F32 && step->rank == 0 ? (int64_t)step->offset : -1;

  const ir_func *fwd = ir_module_find_func(m, "forward");
  const ir_node *pred = fwd ? ir_func_find_output(fwd, "prediction") : NULL;
  d->prediction.name = "prediction";
  d->prediction.dtype = DLC_F32;
  if (pred) {
    d->prediction.dtype = (int)pred->type.dtype;
    d->prediction.rank = pred->type.rank;
    for (int i = 0; i < pred->type.rank; i++) d->prediction.shape[i] = pred->type.dims[i];
  }
  const char *batch = ir_module_get_meta(m, "batch");
  if (batch && atoi(batch) > 0)
    d->batch = atoi(batch);
  else
    d->batch = d->ninputs > 0 && mo->inputs[0].rank > 0 ? (int)mo->inputs[0].shape[0] : 1;
  return true;
}

void be_model_free(be_model *mo) {
  for (int i = 0; i < mo->nstrings; i++) free(mo->strings[i]);
  free(mo->strings);
  free(mo->inputs);
  free(mo->params);
  free(mo->state);
  memset(mo, 0, sizeof *mo);
}

/* ---- kernels -------------------------------------------------------------------------- */

static bool loc_equal(be_loc a, be_loc b) {
  return a.base == b.base && a.input == b.input && a.offset == b.offset;
}

typedef struct {
  int n;
  be_loc *locs;    /* one kernel parameter per distinct buffer */
  int *param_of;   /* by node id: parameter index, -1 */
} kernel_params;

static void use_buffer(kernel_params *kp, const be_plan *p, const ir_node *n) {
  if (kp->param_of[n->id] >= 0) return;
  be_loc l = p->loc[n->id];
  IR_ASSERT(l.base != BE_BASE_NONE);
  for (int i = 0; i < kp->n; i++)
    if (loc_equal(kp->locs[i], l)) {
      kp->param_of[n->id] = i;
      return;
    }
  kp->locs[kp->n] = l;
  kp->param_of[n->id] = kp->n++;
}

static void collect_params(const be_plan *p, int gi, kernel_params *kp) {
  const be_group *g = &p->groups[gi];
  int cap = 0;
  for (int i = 0; i < g->nnodes; i++) cap += 1 + g->nodes[i]->nargs;
  kp->n = 0;
  kp->locs = malloc(sizeof *kp->locs * (size_t)(cap + 1));
  kp->param_of = malloc(sizeof(int) * (size_t)(p->nids + 1));
  IR_ASSERT(kp->locs && kp->param_of);
  for (int i = 0; i <= p->nids; i++) kp->param_of[i] = -1;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *m = g->nodes[i];
    for (int a = 0; a < m->nargs; a++) {
      const ir_node *x = m->args[a];
      if (x->op != IR_OP_CONST && x->op != IR_OP_IOTA && p->group_of[x->id] != gi) use_buffer(kp, p, x);
    }
    if (p->materialize[m->id]) use_buffer(kp, p, m);
  }
  if (g->panel_bytes > 0) kp->locs[kp->n++] = g->panel; /* the last parameter */
}

/* ---- kernels shared between entries -------------------------------------------------- */

/* The entries of one model compute the same kernels again and again (@forward's bias+relu is
 * in eval_loss, forward, gradients and train_step). A kernel is identified by its LLVM text
 * with its own name left out, together with the helpers its emitter made for it (functions
 * named `<kernel>.<something>`, as a matmul's parts): the same text is the same code, so it
 * is emitted once and every entry calls that one. Printing is a twentieth of a compile, so a
 * kernel is printed only when another has its size (blocks and instructions, its helpers'
 * too): most kernels have none, and are never printed. */
typedef struct {
  LLVMValueRef fn;
  char *name;
  uint64_t size;
  char *text; /* NULL until a kernel of the same size needs it */
} cached_kernel;

struct be_kernel_cache {
  int n, cap;
  cached_kernel *k;
};

/* Appends s to *buf with every `@name` followed by '.' or '(' written `@K`, and every loop ID
 * (`!llvm.loop !N`, numbered module-wide as the kernels are made) written `!llvm.loop !L`: the
 * backend gives every loop it marks the same one (be_loop_keep). */
static void append_normalised(char **buf, size_t *len, const char *s, const char *name) {
  static const char loop_md[] = "!llvm.loop !";
  size_t nl = strlen(name), sl = strlen(s), ml = sizeof loop_md - 1;
  *buf = realloc(*buf, *len + sl + 1);
  IR_ASSERT(*buf);
  char *out = *buf + *len;
  for (const char *p = s; *p;) {
    if (p[0] == '@' && strncmp(p + 1, name, nl) == 0 && (p[1 + nl] == '.' || p[1 + nl] == '(')) {
      memcpy(out, "@K", 2);
      out += 2;
      p += 1 + nl;
    } else if (strncmp(p, loop_md, ml) == 0) {
      memcpy(out, loop_md, ml);
      out += ml;
      *out++ = 'L';
      for (p += ml; *p >= '0' && *p <= '9'; p++) {}
    } else {
      *out++ = *p++;
    }
  }
  *out = '\0';
  *len = (size_t)(out - *buf);
}

/* The first function from h on that is kernel fn or one of its helpers (the functions named
 * `<fn's name>.` and something), or NULL. */
static LLVMValueRef kernel_part(LLVMValueRef h, LLVMValueRef fn, const char *name) {
  size_t nl = strlen(name), len;
  for (; h; h = LLVMGetNextFunction(h)) {
    const char *hn = LLVMGetValueName2(h, &len);
    if (h == fn || (len > nl + 1 && strncmp(hn, name, nl) == 0 && hn[nl] == '.')) return h;
  }
  return NULL;
}

static char *kernel_key(LLVMModuleRef mod, LLVMValueRef fn, const char *name) {
  char *key = NULL;
  size_t len = 0;
  for (LLVMValueRef h = kernel_part(LLVMGetFirstFunction(mod), fn, name); h;
       h = kernel_part(LLVMGetNextFunction(h), fn, name)) {
    char *printed = LLVMPrintValueToString(h);
    append_normalised(&key, &len, printed, name);
    LLVMDisposeMessage(printed);
  }
  return key;
}

/* Blocks and instructions of fn and its helpers, and how many helpers: equal texts have
 * equal sizes. */
static uint64_t kernel_size(LLVMModuleRef mod, LLVMValueRef fn, const char *name) {
  uint64_t blocks = 0, insts = 0, fns = 0;
  for (LLVMValueRef h = kernel_part(LLVMGetFirstFunction(mod), fn, name); h;
       h = kernel_part(LLVMGetNextFunction(h), fn, name)) {
    fns++;
    for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(h); b; b = LLVMGetNextBasicBlock(b), blocks++)
      for (LLVMValueRef i = LLVMGetFirstInstruction(b); i; i = LLVMGetNextInstruction(i)) insts++;
  }
  return fns << 48 | blocks << 32 | insts;
}

static void delete_kernel(LLVMModuleRef mod, LLVMValueRef fn, const char *name) {
  for (LLVMValueRef h = kernel_part(LLVMGetFirstFunction(mod), fn, name), next; h; h = next) {
    next = kernel_part(LLVMGetNextFunction(h), fn, name);
    LLVMDeleteFunction(h);
  }
}

/* The existing kernel equal to fn (which is then deleted with its helpers), or fn itself. */
static LLVMValueRef dedupe_kernel(be_ctx *c, LLVMValueRef fn) {
  be_kernel_cache *kc = c->kernels;
  size_t nl;
  char *name = strdup(LLVMGetValueName2(fn, &nl));
  IR_ASSERT(name);
  uint64_t size = kernel_size(c->mod, fn, name);
  char *key = NULL;
  for (int i = 0; i < kc->n; i++) {
    cached_kernel *k = &kc->k[i];
    if (k->size != size) continue;
    if (!k->text) k->text = kernel_key(c->mod, k->fn, k->name);
    if (!key) key = kernel_key(c->mod, fn, name);
    if (strcmp(k->text, key) == 0) {
      delete_kernel(c->mod, fn, name);
      free(key);
      free(name);
      return k->fn;
    }
  }
  if (kc->n == kc->cap) {
    kc->cap = kc->cap ? 2 * kc->cap : 32;
    kc->k = realloc(kc->k, sizeof *kc->k * (size_t)kc->cap);
    IR_ASSERT(kc->k);
  }
  kc->k[kc->n++] = (cached_kernel){fn, name, size, key};
  return fn;
}

static void kernel_cache_free(be_kernel_cache *kc) {
  for (int i = 0; i < kc->n; i++) free(kc->k[i].text), free(kc->k[i].name);
  free(kc->k);
  memset(kc, 0, sizeof *kc);
}

static bool emit_kernel(be_ctx *c, const be_plan *p, int gi, const char *entry,
                        const kernel_params *kp, LLVMValueRef *fn_out, ir_error *err) {
  const be_group *g = &p->groups[gi];
  const ir_node *head = g->sink ? g->sink : g->nodes[g->nnodes - 1];
  char name[200];
  if (g->kernel > 0)
    snprintf(name, sizeof name, "%s.kernel%d", entry, g->kernel);
  else
    snprintf(name, sizeof name, "%s.%s.%d", entry, ir_ops[head->op].name, head->id);
  LLVMValueRef fn = be_begin_function(c, name, kp->n, true);
  be_kernel k = {.c = c, .plan = p, .group = gi};
  k.buf = calloc((size_t)p->nids + 1, sizeof(LLVMValueRef));
  IR_ASSERT(k.buf);
  for (int id = 0; id < p->nids; id++)
    if (kp->param_of[id] >= 0) k.buf[id] = LLVMGetParam(fn, (unsigned)kp->param_of[id]);
  if (g->panel_bytes > 0) k.panel = LLVMGetParam(fn, (unsigned)kp->n - 1);
  switch (g->kind) {
  case BE_K_ELEMENTWISE: be_emit_elementwise(&k); break;
  case BE_K_REDUCE: be_emit_reduce(&k); break;
  case BE_K_SOFTMAX: be_emit_softmax(&k); break;
  case BE_K_MATMUL: be_emit_matmul(&k); break;
  }
  LLVMBuildRetVoid(c->b);
  be_memo_free(&k);
  free(k.buf);
  if (k.error) {
    ir_error_set(err, head->loc, "backend: @%s: %s", p->f->name, k.errmsg);
    return false;
  }
  *fn_out = c->kernels ? dedupe_kernel(c, fn) : fn;
  return true;
}

/* ---- entry functions ------------------------------------------------------------------ */

enum { F_INPUTS, F_PARAMS, F_STATE, F_GRADS, F_SCRATCH, F_LOSS, F_PREDICTION };

static LLVMValueRef frame_field(be_ctx *c, LLVMValueRef frame, int field) {
  LLVMValueRef p = LLVMBuildStructGEP2(c->b, c->frame_t, frame, (unsigned)field, "");
  return LLVMBuildLoad2(c->b, c->ptr, p, "");
}

static LLVMValueRef loc_ptr(be_ctx *c, LLVMValueRef frame, be_loc l) {
  static const int field[] = {[BE_BASE_PARAMS] = F_PARAMS, [BE_BASE_STATE] = F_STATE,
                              [BE_BASE_GRADS] = F_GRADS,   [BE_BASE_SCRATCH] = F_SCRATCH,
                              [BE_BASE_LOSS] = F_LOSS,     [BE_BASE_PRED] = F_PREDICTION};
  LLVMValueRef base;
  if (l.base == BE_BASE_INPUT) {
    LLVMValueRef inputs = frame_field(c, frame, F_INPUTS);
    LLVMValueRef i = be_i64(c, l.input);
    base = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildInBoundsGEP2(c->b, c->ptr, inputs, &i, 1, ""), "");
  } else {
    base = frame_field(c, frame, field[l.base]);
  }
  if (l.offset == 0) return base;
  LLVMValueRef off = be_i64(c, (int64_t)l.offset);
  return LLVMBuildInBoundsGEP2(c->b, c->i8, base, &off, 1, "");
}

static void emit_copies(be_ctx *c, LLVMValueRef frame, const be_copy *cp, int n) {
  for (int i = 0; i < n; i++)
    LLVMBuildMemCpy(c->b, loc_ptr(c, frame, cp[i].dst), 1, loc_ptr(c, frame, cp[i].src), 1,
                    be_i64(c, (int64_t)cp[i].bytes));
}

/* Marks the inputs that the entry planned as p reads (its live input arguments) as read by it. */
static void mark_readers(const ir_func *f, const be_plan *p, unsigned entry, be_model *mo) {
  for (int i = 0; i < f->nargs; i++) {
    const ir_node *a = f->args[i];
    int idx;
    if (a->op == IR_OP_INPUT && p->live[a->id] && be_model_find(mo->inputs, mo->desc.ninputs, a->name, &idx))
      mo->inputs[idx].read_by |= entry;
  }
}

static bool emit_entry(be_ctx *c, const ir_func *f, const be_entry_spec *spec, be_model *mo,
                       ir_error *err) {
  be_plan p;
  if (!be_plan_build(f, spec, mo, &p, err)) return false;
  mark_readers(f, &p, 1u << (spec - be_entries), mo);
  if (p.scratch_bytes > mo->desc.scratch_bytes) mo->desc.scratch_bytes = p.scratch_bytes;
  kernel_params *kps = calloc((size_t)p.ngroups + 1, sizeof *kps);
  LLVMValueRef *fns = calloc((size_t)p.ngroups + 1, sizeof *fns);
  IR_ASSERT(kps && fns);
  bool ok = true;
  for (int gi = 0; ok && gi < p.ngroups; gi++) {
    collect_params(&p, gi, &kps[gi]);
    ok = emit_kernel(c, &p, gi, spec->entry, &kps[gi], &fns[gi], err);
  }
  if (ok) {
    char name[64];
    snprintf(name, sizeof name, "dlc_entry_%s", spec->entry);
    LLVMValueRef fn = be_begin_function(c, name, 1, false);
    be_mark_glue(c, fn);
    LLVMValueRef frame = LLVMGetParam(fn, 0);
    emit_copies(c, frame, p.start_copies, p.nstart);
    for (int gi = 0; gi < p.ngroups; gi++) {
      LLVMValueRef args[kps[gi].n + 1];
      for (int i = 0; i < kps[gi].n; i++) args[i] = loc_ptr(c, frame, kps[gi].locs[i]);
      LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fns[gi]), fns[gi], args, (unsigned)kps[gi].n, "");
    }
    emit_copies(c, frame, p.end_copies, p.nend);
    LLVMBuildRetVoid(c->b);
  }
  for (int gi = 0; gi < p.ngroups; gi++) {
    free(kps[gi].locs);
    free(kps[gi].param_of);
  }
  free(kps);
  free(fns);
  be_plan_free(&p);
  return ok;
}

/* The entries `entries` asks for (be_options.entries; 0: all) that the module has. */
static bool codegen_entries(be_ctx *c, ir_module *m, be_model *mo, unsigned entries, ir_error *err) {
  for (int e = 0; e < BE_NENTRIES; e++) {
    const ir_func *f = ir_module_find_func(m, be_entries[e].func);
    mo->has_entry[e] = false;
    if (!f || (entries && !(entries & (1u << e)))) continue;
    if (e == 2 && !ir_func_find_output(f, "prediction")) continue;
    if (e == 1 && !ir_func_find_output(f, "loss")) continue;
    if (!emit_entry(c, f, &be_entries[e], mo, err)) return false;
    mo->has_entry[e] = true;
  }
  return true;
}

bool be_codegen_module(be_ctx *c, ir_module *m, be_model *mo, unsigned entries, ir_error *err) {
  if (!be_model_build(m, mo, err)) return false;
  be_kernel_cache kc = {0};
  c->kernels = &kc;
  bool ok = codegen_entries(c, m, mo, entries, err);
  c->kernels = NULL;
  kernel_cache_free(&kc);
  return ok;
}



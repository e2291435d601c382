/* The IR's core: the op table, types, the module arena, functions and node builders. */
#include "ir.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void ir_assert_fail(const char *file, int line, const char *cond) {
  fprintf(stderr, "dlc: internal error at %s:%d: assertion failed: %s\n", file, line, cond);
  abort();
}

/* ---- op table ------------------------------------------------------------------ */

const ir_op_info ir_ops[IR_OP_COUNT] = {
#define OP(id, name, kind, arity, attrs, flags) \
  [IR_OP_##id] = {name, IR_KIND_##kind, arity, IR_ATTR_##attrs, flags},
#include "ops.def"
};

bool ir_op_from_name(const char *s, size_t len, ir_opcode *out) {
  for (int i = 0; i < IR_OP_COUNT; i++) {
    if (strlen(ir_ops[i].name) == len && memcmp(ir_ops[i].name, s, len) == 0) {
      *out = (ir_opcode)i;
      return true;
    }
  }
  return false;
}

bool ir_op_is_elementwise(ir_opcode op) {
  ir_kind k = ir_ops[op].kind;
  return k == IR_KIND_UNARY || k == IR_KIND_BINARY || k == IR_KIND_COMPARE ||
         k == IR_KIND_SELECT;
}

/* ---- dtypes and types ------------------------------------------------------------ */

static const struct {
  const char *name;
  size_t size;
  bool is_float;
} dtypes[IR_DTYPE_COUNT] = {
    [IR_F32] = {"f32", 4, true}, [IR_F64] = {"f64", 8, true}, [IR_I32] = {"i32", 4, false},
    [IR_I64] = {"i64", 8, false}, [IR_BOOL] = {"bool", 1, false},
};

const char *ir_dtype_name(ir_dtype dt) { return dtypes[dt].name; }
bool ir_dtype_is_float(ir_dtype dt) { return dtypes[dt].is_float; }
size_t ir_dtype_size(ir_dtype dt) { return dtypes[dt].size; }

bool ir_dtype_from_name(const char *s, size_t len, ir_dtype *out) {
  for (int i = 0; i < IR_DTYPE_COUNT; i++) {
    if (strlen(dtypes[i].name) == len && memcmp(dtypes[i].name, s, len) == 0) {
      *out = (ir_dtype)i;
      return true;
    }
  }
  return false;
}

ir_type ir_type_make(ir_dtype dt, int rank, const int64_t *dims) {
  IR_ASSERT(rank >= 0 && rank <= IR_MAX_RANK);
  ir_type t = {.dtype = dt, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  return t;
}

ir_type ir_type_scalar(ir_dtype dt) { return (ir_type){.dtype = dt}; }

bool ir_shape_equal(const ir_type *a, const ir_type *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

bool ir_type_equal(const ir_type *a, const ir_type *b) {
  return a->dtype == b->dtype && ir_shape_equal(a, b);
}

int64_t ir_type_numel(const ir_type *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->dims[i];
  return n;
}

char *ir_shape_str(const ir_type *t, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < t->rank && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, i ? ",%lld" : "%lld", (long long)t->dims[i]);
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}

char *ir_type_str(const ir_type *t, char *buf, size_t size) {
  char shape[IR_TYPE_STR_MAX];
  snprintf(buf, size, "%s%s", ir_dtype_name(t->dtype), ir_shape_str(t, shape, sizeof shape));
  return buf;
}

bool ir_broadcast_shapes(const ir_type *a, const ir_type *b, ir_type *out) {
  int rank = a->rank > b->rank ? a->rank : b->rank;
  out->rank = rank;
  for (int i = 0; i < rank; i++) {
    int ia = a->rank - rank + i, ib = b->rank - rank + i;
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    out->dims[i] = da == 1 ? db : da;
  }
  return true;
}

bool ir_broadcasts_to(const ir_type *from, const ir_type *to) {
  if (from->rank > to->rank) return false;
  for (int i = 0; i < from->rank; i++) {
    int64_t d = from->dims[i], t = to->dims[to->rank - from->rank + i];
    if (d != t && d != 1) return false;
  }
  return true;
}

/* ---- errors ------------------------------------------------------------------------ */

void ir_error_set(ir_error *err, ir_loc loc, const char *fmt, ...) {
  if (!err) return;
  err->loc = loc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
}

/* ---- arena ------------------------------------------------------------------------- */

/* Chunks grow geometrically; nothing is freed before the module dies. */
typedef struct ir_chunk {
  struct ir_chunk *next;
  size_t used, size;
  _Alignas(max_align_t) unsigned char data[];
} ir_chunk;

struct ir_arena {
  ir_chunk *head;
};

void *ir_alloc(ir_module *m, size_t size) {
  const size_t align = _Alignof(max_align_t);
  size = (size + align - 1) & ~(align - 1);
  ir_chunk *c = m->arena->head;
  if (!c || c->used + size > c->size) {
    size_t chunk = c ? c->size * 2 : 64 * 1024;
    while (chunk < size) chunk *= 2;
    ir_chunk *n = malloc(sizeof *n + chunk);
    IR_ASSERT(n != NULL);
    n->next = c;
    n->used = 0;
    n->size = chunk;
    m->arena->head = c = n;
  }
  void *p = c->data + c->used;
  c->used += size;
  memset(p, 0, size);
  return p;
}

char *ir_strndup(ir_module *m, const char *s, size_t n) {
  char *d = ir_alloc(m, n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *ir_strdup(ir_module *m, const char *s) { return ir_strndup(m, s, strlen(s)); }

/* Grows an arena array of `elem`-sized items to hold one more; old storage is abandoned. */
static void *grow(ir_module *m, void *items, int count, int *cap, size_t elem) {
  if (count < *cap) return items;
  int ncap = *cap ? *cap * 2 : 8;
  void *n = ir_alloc(m, (size_t)ncap * elem);
  if (count) memcpy(n, items, (size_t)count * elem);
  *cap = ncap;
  return n;
}

/* ---- module and functions --------------------------------------------------------- */

ir_module *ir_module_create(void) {
  ir_module *m = calloc(1, sizeof *m);
  IR_ASSERT(m != NULL);
  m->arena = calloc(1, sizeof *m->arena);
  IR_ASSERT(m->arena != NULL);
  return m;
}

void ir_module_destroy(ir_module *m) {
  if (!m) return;
  for (ir_chunk *c = m->arena->head, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  free(m->arena);
  free(m);
}

void ir_module_set_meta(ir_module *m, const char *key, const char *value) {
  for (int i = 0; i < m->nmeta; i++) {
    if (strcmp(m->meta[i].key, key) == 0) {
      m->meta[i].value = ir_strdup(m, value);
      return;
    }
  }
  m->meta = grow(m, m->meta, m->nmeta, &m->meta_cap, sizeof *m->meta);
  m->meta[m->nmeta++] = (ir_meta){ir_strdup(m, key), ir_strdup(m, value)};
}

const char *ir_module_get_meta(const ir_module *m, const char *key) {
  for (int i = 0; i < m->nmeta; i++)
    if (strcmp(m->meta[i].key, key) == 0) return m->meta[i].value;
  return NULL;
}

ir_func *ir_func_create(ir_module *m, const char *name) {
  ir_func *f = ir_alloc(m, sizeof *f);
  f->module = m;
  f->name = ir_strdup(m, name);
  f->insert_at = -1;
  m->funcs = grow(m, m->funcs, m->nfuncs, &m->funcs_cap, sizeof *m->funcs);
  m->funcs[m->nfuncs++] = f;
  return f;
}

ir_func *ir_module_find_func(const ir_module *m, const char *name) {
  for (int i = 0; i < m->nfuncs; i++)
    if (strcmp(m->funcs[i]->name, name) == 0) return m->funcs[i];
  return NULL;
}

static ir_node *new_node(ir_func *f, ir_opcode op, ir_type type) {
  ir_node *n = ir_alloc(f->module, sizeof *n);
  n->op = op;
  n->id = f->next_id++;
  n->type = type;
  n->loc = f->loc;
  return n;
}

ir_node *ir_func_add_arg(ir_func *f, ir_opcode role, const char *name, ir_type type) {
  IR_ASSERT(ir_ops[role].kind == IR_KIND_ARG);
  ir_node *n = new_node(f, role, type);
  n->name = ir_strdup(f->module, name);
  /* Arguments are few: grow to exactly what is needed. */
  ir_node **args = ir_alloc(f->module, (size_t)(f->nargs + 1) * sizeof *args);
  if (f->nargs) memcpy(args, f->args, (size_t)f->nargs * sizeof *args);
  args[f->nargs++] = n;
  f->args = args;
  return n;
}

ir_node *ir_func_find_arg(const ir_func *f, const char *name) {
  for (int i = 0; i < f->nargs; i++)
    if (strcmp(f->args[i]->name, name) == 0) return f->args[i];
  return NULL;
}

void ir_func_add_output(ir_func *f, const char *name, ir_node *value) {
  f->outputs = grow(f->module, f->outputs, f->noutputs, &f->outputs_cap, sizeof *f->outputs);
  f->outputs[f->noutputs++] = (ir_output){ir_strdup(f->module, name), value};
}

ir_node *ir_func_find_output(const ir_func *f, const char *name) {
  for (int i = 0; i < f->noutputs; i++)
    if (strcmp(f->outputs[i].name, name) == 0) return f->outputs[i].value;
  return NULL;
}

bool ir_func_is_update_value(const ir_func *f, const ir_node *x) {
  for (int i = 0; i < f->nupdates; i++)
    if (f->updates[i].value == x) return true;
  return false;
}

void ir_func_add_update(ir_func *f, ir_node *target, ir_node *value) {
  f->updates = grow(f->module, f->updates, f->nupdates, &f->updates_cap, sizeof *f->updates);
  f->updates[f->nupdates++] = (ir_update){target, value};
}

static void insert_node(ir_func *f, ir_node *n) {
  f->body = grow(f->module, f->body, f->nbody, &f->body_cap, sizeof *f->body);
  if (f->insert_at < 0) {
    f->body[f->nbody++] = n;
    return;
  }
  if (f->insert_at > f->nbody) f->insert_at = f->nbody;
  memmove(f->body + f->insert_at + 1, f->body + f->insert_at,
          (size_t)(f->nbody - f->insert_at) * sizeof *f->body);
  f->body[f->insert_at++] = n;
  f->nbody++;
}

/* ---- builders ------------------------------------------------------------------------ */

ir_node *ir_build(ir_func *f, ir_opcode op, ir_node *const *args, int nargs,
                  const ir_attrs *attrs, const ir_type *given, ir_error *err) {
  const ir_op_info *info = &ir_ops[op];
  if (info->kind == IR_KIND_ARG) {
    ir_error_set(err, f->loc, "'%s' is a function argument, not an instruction", info->name);
    return NULL;
  }
  if (info->arity >= 0 ? nargs != info->arity : nargs < 1) {
    ir_error_set(err, f->loc, "'%s' takes %s%d operand%s, got %d", info->name,
                 info->arity < 0 ? "at least " : "", info->arity < 0 ? 1 : info->arity,
                 info->arity == 1 || info->arity < 0 ? "" : "s", nargs);
    return NULL;
  }
  if ((info->flags & IR_F_TYPE_GIVEN) && !given) {
    ir_error_set(err, f->loc, "'%s' needs its result type", info->name);
    return NULL;
  }
  ir_node probe = {.op = op, .nargs = nargs, .args = (ir_node **)args, .loc = f->loc};
  if (attrs) probe.attrs = *attrs;
  if (given) probe.type = *given;
  ir_type inferred;
  if (!ir_infer_type(&probe, &inferred, err)) return NULL;
  if (given && !ir_type_equal(given, &inferred)) {
    char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
    ir_error_set(err, f->loc, "'%s' produces %s, but its type says %s", info->name,
                 ir_type_str(&inferred, a, sizeof a), ir_type_str(given, b, sizeof b));
    return NULL;
  }
  ir_node *n = new_node(f, op, inferred);
  n->nargs = nargs;
  n->args = ir_alloc(f->module, (size_t)(nargs ? nargs : 1) * sizeof *n->args);
  for (int i = 0; i < nargs; i++) n->args[i] = args[i];
  if (attrs) n->attrs = *attrs;
  if (attrs && attrs->nvalues) {
    n->attrs.values = ir_alloc(f->module, (size_t)attrs->nvalues * sizeof(double));
    memcpy(n->attrs.values, attrs->values, (size_t)attrs->nvalues * sizeof(double));
  }
  insert_node(f, n);
  return n;
}

ir_node *ir_emit(ir_func *f, ir_opcode op, ir_node *const *args, int nargs,
                 const ir_attrs *attrs, const ir_type *given) {
  ir_error err;
  ir_node *n = ir_build(f, op, args, nargs, attrs, given, &err);
  if (!n) {
    fprintf(stderr, "dlc: internal error: building '%s' in @%s: %s\n", ir_ops[op].name, f->name,
            err.msg);
    abort();
  }
  return n;
}

ir_node *ir_emit_unary(ir_func *f, ir_opcode op, ir_node *x) {
  return ir_emit(f, op, &x, 1, NULL, NULL);
}

ir_node *ir_emit_broadcast(ir_func *f, ir_node *x, const ir_type *to) {
  if (ir_shape_equal(&x->type, to)) return x;
  ir_type t = *to;
  t.dtype = x->type.dtype;
  return ir_emit(f, IR_OP_BROADCAST, &x, 1, NULL, &t);
}

ir_node *ir_emit_reshape(ir_func *f, ir_node *x, const ir_type *to) {
  if (ir_shape_equal(&x->type, to)) return x;
  ir_type t = *to;
  t.dtype = x->type.dtype;
  return ir_emit(f, IR_OP_RESHAPE, &x, 1, NULL, &t);
}

ir_node *ir_emit_binary(ir_func *f, ir_opcode op, ir_node *a, ir_node *b) {
  ir_type shape;
  if (!ir_broadcast_shapes(&a->type, &b->type, &shape)) {
    char sa[IR_TYPE_STR_MAX], sb[IR_TYPE_STR_MAX];
    fprintf(stderr, "dlc: internal error: '%s' of %s and %s in @%s\n", ir_ops[op].name,
            ir_type_str(&a->type, sa, sizeof sa), ir_type_str(&b->type, sb, sizeof sb), f->name);
    abort();
  }
  ir_node *args[2] = {ir_emit_broadcast(f, a, &shape), ir_emit_broadcast(f, b, &shape)};
  return ir_emit(f, op, args, 2, NULL, NULL);
}

ir_node *ir_emit_const(ir_func *f, ir_type type, double value) {
  ir_attrs attrs = {.nvalues = 1, .values = &value};
  return ir_emit(f, IR_OP_CONST, NULL, 0, &attrs, &type);
}

ir_node *ir_emit_reduce(ir_func *f, ir_opcode op, ir_node *x, const int64_t *axes, int naxes,
                        bool keepdims) {
  ir_attrs attrs = {.naxes = naxes, .keepdims = keepdims};
  for (int i = 0; i < naxes; i++) attrs.axes[i] = axes[i];
  return ir_emit(f, op, &x, 1, &attrs, NULL);
}

ir_node *ir_emit_cast(ir_func *f, ir_node *x, ir_dtype to) {
  if (x->type.dtype == to) return x;
  ir_type t = x->type;
  t.dtype = to;
  return ir_emit(f, IR_OP_CAST, &x, 1, NULL, &t);
}

/* ---- rewriting helpers ---------------------------------------------------------------- */

int *ir_use_counts(const ir_func *f) {
  int *uses = calloc((size_t)(f->next_id ? f->next_id : 1), sizeof *uses);
  IR_ASSERT(uses != NULL);
  for (int i = 0; i < f->nbody; i++)
    for (int j = 0; j < f->body[i]->nargs; j++) uses[f->body[i]->args[j]->id]++;
  for (int i = 0; i < f->noutputs; i++) uses[f->outputs[i].value->id]++;
  for (int i = 0; i < f->nupdates; i++) uses[f->updates[i].value->id]++;
  return uses;
}

int *ir_value_numbers(const ir_func *f) {
  int *numbers = malloc((size_t)(f->next_id ? f->next_id : 1) * sizeof *numbers);
  IR_ASSERT(numbers != NULL);
  for (int i = 0; i < f->next_id; i++) numbers[i] = -1;
  int next = 0;
  for (int i = 0; i < f->nbody; i++) {
    const ir_node *n = f->body[i];
    /* The verifier numbers IR that may be broken: a NULL slot, a foreign node. */
    bool in_range = n && n->id >= 0 && n->id < f->next_id;
    if (in_range && !n->name && numbers[n->id] < 0) numbers[n->id] = next++;
  }
  return numbers;
}

const char *ir_value_label(const ir_node *n, const int *numbers, char *buf, size_t size) {
  if (n->name) snprintf(buf, size, "%%%s", n->name);
  else snprintf(buf, size, "%%%d", numbers[n->id]);
  return buf;
}

void ir_func_retain(ir_func *f, const bool *keep) {
  int n = 0;
  for (int i = 0; i < f->nbody; i++)
    if (keep[f->body[i]->id]) f->body[n++] = f->body[i];
  f->nbody = n;
}

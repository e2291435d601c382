/* Lowering: statements, names, operators and user-defined functions into the @forward
 * function of a tensor-IR module, and the model's settings into meta entries.
 *
 * Everything is checked where it is written: a name is looked up when it is used, an
 * operator's shapes when it is built, so each diagnostic points at the user's line. A
 * failed expression becomes a "poison" value that later uses accept quietly, so one
 * mistake gives one error. User functions are inlined at each call, in a scope of their
 * own that sees only their parameters, their locals and the file's constants. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fe_impl.h"

/* Expressions lowered in the bodies of inlined calls, counting every copy: bounds the
 * work a hostile file (a function calling another twice, thirty levels deep: 2^30
 * copies) can ask for. What is written outside functions is not counted: its work grows
 * with the file, as any compiler's does. */
#define MAX_INLINED_EXPRS 200000

fe_ctx *fe_lower_ctx(fe_lower *lw) { return lw->c; }
fe_scope *fe_global_scope(fe_lower *lw) { return &lw->global; }
void fe_set_meta(fe_lower *lw, const char *key, const char *value) {
  ir_module_set_meta(lw->m, key, value);
}
ir_func *fe_lower_func(fe_lower *lw) { return lw->f; }

char *fe_fmt(fe_lower *lw, const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  int n = vsnprintf(NULL, 0, f, ap);
  va_end(ap);
  char *s = fe_alloc(&lw->c->arena, (size_t)n + 1);
  va_start(ap, f);
  vsnprintf(s, (size_t)n + 1, f, ap);
  va_end(ap);
  return s;
}

/* Notes for the inlined calls that led to an error inside a function, innermost first. */
static void call_notes(fe_lower *lw) {
  for (int i = lw->depth - 1; i >= 0; i--)
    fe_note(lw->c, lw->stack[i].call, "in the call of '%s' here", lw->stack[i].fn->name);
}

void fe_lower_error(fe_lower *lw, fe_span at, fe_span range, const char *f, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, f);
  vsnprintf(msg, sizeof msg, f, ap);
  va_end(ap);
  fe_error_at(lw->c, at, range, "%s", msg);
  call_notes(lw);
}

static const char *type_str(const ir_type *t, char *buf) { return ir_type_str(t, buf, IR_TYPE_STR_MAX); }

/* ---- name maps -------------------------------------------------------------------------- */

static uint64_t hash_str(const char *p) {
  uint64_t h = 1469598103934665603u; /* FNV-1a */
  for (; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211u;
  return h;
}

/* Where `key` is in m, or the empty slot where it would go (m->cap > 0). */
static int name_slot(const fe_name_map *m, const char *key) {
  uint64_t mask = (uint64_t)m->cap - 1;
  for (uint64_t i = hash_str(key);; i++) {
    const char *k = m->keys[i & mask];
    if (!k || strcmp(k, key) == 0) return (int)(i & mask);
  }
}

/* The value of `key`, or -1 when it is not in m. */
static int name_map_get(const fe_name_map *m, const char *key) {
  if (!m->cap) return -1;
  int i = name_slot(m, key);
  return m->keys[i] ? m->values[i] : -1;
}

/* Adds key -> value; a key already in m keeps its first value. */
static void name_map_put(fe_lower *lw, fe_name_map *m, const char *key, int value) {
  if (2 * (m->n + 1) > m->cap) {
    fe_name_map old = *m;
    m->cap = old.cap ? old.cap * 2 : 16;
    m->n = 0;
    m->keys = fe_alloc(&lw->c->arena, (size_t)m->cap * sizeof *m->keys);
    m->values = fe_alloc(&lw->c->arena, (size_t)m->cap * sizeof *m->values);
    for (int i = 0; i < old.cap; i++)
      if (old.keys[i]) name_map_put(lw, m, old.keys[i], old.values[i]);
  }
  int i = name_slot(m, key);
  if (m->keys[i]) return;
  m->keys[i] = key;
  m->values[i] = value;
  m->n++;
}

/* ---- scopes ----------------------------------------------------------------------------- */

static fe_binding *find_local(fe_scope *s, const char *name) {
  int i = name_map_get(&s->index, name);
  return i < 0 ? NULL : &s->items[i];
}

/* A name as seen from scope s: its own, else one of the file's constants. */
static fe_binding *lookup(fe_scope *s, const char *name) {
  fe_binding *b = find_local(s, name);
  if (!b && s->globals) {
    b = find_local(s->globals, name);
    if (b && b->val.kind != FV_NUM) b = NULL;
  }
  return b;
}

static void bind(fe_lower *lw, fe_scope *s, const char *name, fe_span def, fe_val v) {
  if (s->n == s->cap) {
    int ncap = s->cap ? s->cap * 2 : 16;
    fe_binding *items = fe_alloc(&lw->c->arena, (size_t)ncap * sizeof *items);
    if (s->n) memcpy(items, s->items, (size_t)s->n * sizeof *items);
    s->items = items;
    s->cap = ncap;
  }
  s->items[s->n++] = (fe_binding){.name = name, .val = v, .def = def};
  name_map_put(lw, &s->index, name, s->n - 1);
}

/* Reports a redefinition (with a note at the first one) and returns true if `name` is
 * taken in s. */
static bool redefined(fe_lower *lw, fe_scope *s, const char *name, fe_span at) {
  fe_binding *b = find_local(s, name);
  if (!b) return false;
  fe_lower_error(lw, at, at, "redefinition of '%s'", name);
  if (b->def.line) fe_note(lw->c, b->def, "'%s' was first defined here", name);
  return true;
}

static const fe_stmt *find_def(fe_lower *lw, const char *name) {
  for (int i = 0; i < lw->ndefs; i++)
    if (strcmp(lw->defs[i]->name, name) == 0) return lw->defs[i];
  return NULL;
}

/* The IR name for a value or parameter called `name` in scope s. */
static const char *qualified(fe_lower *lw, fe_scope *s, const char *name) {
  return s->prefix ? fe_fmt(lw, "%s.%s", s->prefix, name) : name;
}

/* Gives the node of a named intermediate its name, unless it has one (an argument, or a
 * value already named). */
static void name_node(fe_lower *lw, fe_scope *s, fe_val v, const char *name) {
  if (v.kind != FV_NODE || v.node->name) return;
  v.node->name = ir_strdup(lw->m, qualified(lw, s, name));
}

/* ---- expressions ---------------------------------------------------------------------------- */

static void unknown_name(fe_lower *lw, fe_scope *s, const fe_expr *e) {
  const char *name = e->text;
  if (fe_is_builtin(name) || find_def(lw, name)) {
    fe_lower_error(lw, e->span, e->span, "'%s' is a function; call it as %s(...)", name, name);
    return;
  }
  if (strcmp(name, "batch") == 0) {
    fe_lower_error(lw, e->span, e->span,
                   "unknown name 'batch': the batch size is not set (write `batch = 32` or pass --batch 32)");
    return;
  }
  int n = s->n + (s->globals ? s->globals->n : 0), k = 0;
  const char **cands = fe_alloc(&lw->c->arena, (size_t)(n + 1) * sizeof *cands);
  for (int i = 0; i < s->n; i++) cands[k++] = s->items[i].name;
  for (int i = 0; s->globals && i < s->globals->n; i++)
    if (s->globals->items[i].val.kind == FV_NUM) cands[k++] = s->globals->items[i].name;
  const char *close = fe_closest(name, cands, k);
  if (close)
    fe_lower_error(lw, e->span, e->span, "unknown name '%s'; did you mean '%s'?", name, close);
  else
    fe_lower_error(lw, e->span, e->span, "unknown name '%s'", name);
  if (s->globals && find_local(s->globals, name))
    fe_note(lw->c, find_local(s->globals, name)->def,
            "'%s' is defined outside the function; pass it as an argument", name);
}

static fe_val call_user(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_stmt *fn);

static fe_val lower_call(fe_lower *lw, fe_scope *s, const fe_expr *e) {
  if (fe_is_builtin(e->text)) return fe_lower_builtin(lw, s, e);
  const fe_stmt *fn = find_def(lw, e->text);
  if (fn) return call_user(lw, s, e, fn);
  if (lookup(s, e->text)) {
    fe_lower_error(lw, e->op_span, e->op_span, "'%s' is a value, not a function", e->text);
    return fe_poison();
  }
  const char *const *names = fe_builtin_names();
  int n = 0;
  while (names[n]) n++;
  const char **cands = fe_alloc(&lw->c->arena, (size_t)(n + lw->ndefs) * sizeof *cands);
  for (int i = 0; i < n; i++) cands[i] = names[i];
  for (int i = 0; i < lw->ndefs; i++) cands[n + i] = lw->defs[i]->name;
  const char *close = fe_closest(e->text, cands, n + lw->ndefs);
  if (close)
    fe_lower_error(lw, e->op_span, e->op_span, "unknown function '%s'; did you mean '%s'?", e->text, close);
  else
    fe_lower_error(lw, e->op_span, e->op_span, "unknown function '%s'", e->text);
  return fe_poison();
}

static ir_opcode binary_op(char op) {
  switch (op) {
  case '+': return IR_OP_ADD;
  case '-': return IR_OP_SUB;
  case '*': return IR_OP_MUL;
  case '/': return IR_OP_DIV;
  default: return IR_OP_POW;
  }
}

/* Counts an expression of an inlined body toward the budget; false (reported once) when
 * the budget is spent. */
static bool count_inlined(fe_lower *lw, const fe_expr *e) {
  if (lw->depth == 0 || ++lw->inlined_exprs <= MAX_INLINED_EXPRS) return true;
  if (!lw->over_budget)
    fe_lower_error(lw, e->span, e->span,
                   "the model is too large after inlining its functions: their calls lower more "
                   "than %d expressions (each call counts its function's body again)",
                   MAX_INLINED_EXPRS);
  lw->over_budget = true;
  return false;
}

/* Applies binary expression e to its lowered left operand: lowers the right one and
 * builds the operator. */
static fe_val apply_binary(fe_lower *lw, fe_scope *s, const fe_expr *e, fe_val a) {
  fe_val b = fe_lower_expr(lw, s, e->rhs);
  char sym[2] = {e->op, 0};
  if (e->op == '@') return fe_matmul(lw, e->op_span, e->span, a, b);
  /* x ^ 2 is x * x: exact, cheaper than pow, and with the simplest gradient. */
  if (e->op == '^' && b.kind == FV_NUM && b.num == 2 && a.kind != FV_NUM) {
    ir_dtype dt = a.kind == FV_NODE ? a.node->type.dtype : IR_F32;
    fe_val x = fe_node_val(fe_to_node(lw, a, dt, e->op_span));
    return fe_binary(lw, e->op_span, e->span, sym, IR_OP_MUL, x, x);
  }
  return fe_binary(lw, e->op_span, e->span, sym, binary_op(e->op), a, b);
}

/* `a + b + c + ...` parses as ((a + b) + c) + ...: a generated model's long sum is a left
 * spine thousands of operators deep. A loop lowers it from the innermost operator out,
 * so its length costs memory, not stack; right operands and brackets nest only as deep
 * as the parser allows. */
static fe_val lower_binary_chain(fe_lower *lw, fe_scope *s, const fe_expr *e) {
  int n = 0;
  for (const fe_expr *x = e; x->kind == EX_BINARY; x = x->lhs) n++;
  const fe_expr **spine = fe_alloc(&lw->c->arena, (size_t)n * sizeof *spine);
  int k = n;
  for (const fe_expr *x = e; x->kind == EX_BINARY; x = x->lhs) spine[--k] = x;
  fe_val v = fe_lower_expr(lw, s, spine[0]->lhs);
  for (k = 0; k < n; k++) {
    if (spine[k] != e && !count_inlined(lw, spine[k])) return fe_poison(); /* e was counted */
    v = apply_binary(lw, s, spine[k], v);
  }
  return v;
}

fe_val fe_lower_expr(fe_lower *lw, fe_scope *s, const fe_expr *e) {
  if (!count_inlined(lw, e)) return fe_poison();
  switch (e->kind) {
  case EX_NUMBER:
    return (fe_val){.kind = FV_NUM, .num = e->num, .is_int = e->is_int};
  case EX_NAME: {
    fe_binding *b = lookup(s, e->text);
    if (b) return b->val;
    unknown_name(lw, s, e);
    return fe_poison();
  }
  case EX_CALL:
    return lower_call(lw, s, e);
  case EX_UNARY:
    return fe_negate(lw, e->op_span, e->span, fe_lower_expr(lw, s, e->lhs));
  case EX_BINARY:
    return lower_binary_chain(lw, s, e);
  case EX_LIST:
    return fe_literal(lw, s, e);
  case EX_STRING:
    fe_lower_error(lw, e->span, e->span, "a string is not a value here");
    return fe_poison();
  case EX_RANGE:
    fe_lower_error(lw, e->op_span, e->span, "a range (a..b) only names columns of a data source");
    return fe_poison();
  }
  return fe_poison();
}

/* ---- user functions ----------------------------------------------------------------------------- */

/* What the parameters and values of this call are called: the name it is bound to
 * (`h1 = dense(...)` gives h1.w), else the function's name and a count (dense_2.w). */
static const char *call_prefix(fe_lower *lw, fe_scope *s, const fe_expr *call, int def_index) {
  const char *p = call == lw->let_expr ? lw->let_name : NULL;
  while (!p || name_map_get(&lw->prefixes, p) >= 0) {
    int k = ++lw->calls[def_index];
    p = qualified(lw, s, fe_fmt(lw, "%s_%d", call->text, k));
  }
  name_map_put(lw, &lw->prefixes, p, 0);
  return p;
}

static void lower_stmt(fe_lower *lw, fe_scope *s, const fe_stmt *st);

static fe_val call_user(fe_lower *lw, fe_scope *s, const fe_expr *call, const fe_stmt *fn) {
  int index = 0;
  while (lw->defs[index] != fn) index++;
  for (int i = 0; i < lw->depth; i++) {
    if (lw->stack[i].fn == fn) {
      fe_lower_error(lw, call->op_span, call->span,
                     "'%s' calls itself; functions are inlined, so they cannot recurse", fn->name);
      return fe_poison();
    }
  }
  if (lw->depth == FE_MAX_INLINE_DEPTH) {
    fe_lower_error(lw, call->op_span, call->span, "functions nest more than %d calls deep",
                   FE_MAX_INLINE_DEPTH);
    return fe_poison();
  }
  /* The signature is the parameter list, every parameter required. */
  size_t siglen = 1;
  for (int i = 0; i < fn->nparams; i++) siglen += strlen(fn->params[i]) + 2;
  char *sig = fe_alloc(&lw->c->arena, siglen);
  for (int i = 0; i < fn->nparams; i++) {
    if (i) strcat(sig, ", ");
    strcat(sig, fn->params[i]);
  }
  fe_bound_args a;
  if (!fe_bind_args(lw, call, fe_fmt(lw, "'%s'", fn->name), sig, &a)) {
    fe_note(lw->c, fn->name_span, "'%s' is defined here", fn->name);
    return fe_poison();
  }
  fe_val args[FE_MAX_SIG];
  bool ok = true;
  for (int i = 0; i < fn->nparams; i++) {
    args[i] = fe_lower_expr(lw, s, a.slot[i]);
    ok = ok && args[i].kind != FV_POISON;
  }
  if (!ok || !lw->def_ok[index]) return fe_poison();

  fe_scope fs = {.globals = &lw->global, .prefix = call_prefix(lw, s, call, index)};
  for (int i = 0; i < fn->nparams; i++) bind(lw, &fs, fn->params[i], fn->param_spans[i], args[i]);
  lw->stack[lw->depth++] = (fe_frame){fn, call->op_span};
  fe_val result = fe_poison();
  for (int i = 0; i < fn->nbody; i++) {
    const fe_stmt *st = fn->body[i];
    if (st->kind == ST_RETURN) {
      result = fe_lower_expr(lw, &fs, st->value);
      break;
    }
    lower_stmt(lw, &fs, st);
  }
  lw->depth--;
  return result;
}

/* ---- statements ------------------------------------------------------------------------------- */

/* Statements that may appear only once; the second one is an error with a note. */
static bool once(fe_lower *lw, const fe_stmt **slot, const fe_stmt *st, const char *what) {
  if (*slot) {
    fe_lower_error(lw, st->span, st->span, "the model already has %s", what);
    fe_note(lw->c, (*slot)->span, "the first one is here");
    return false;
  }
  *slot = st;
  return true;
}

static void set_batch_meta(fe_lower *lw, double batch) {
  char num[40];
  fe_format_number(batch, num, sizeof num);
  ir_module_set_meta(lw->m, "batch", num);
}

static void lower_let(fe_lower *lw, fe_scope *s, const fe_stmt *st) {
  if (redefined(lw, s, st->name, st->name_span)) return;
  const fe_expr *outer_expr = lw->let_expr;
  const char *outer_name = lw->let_name;
  lw->let_expr = st->value;
  lw->let_name = qualified(lw, s, st->name);
  fe_val v = fe_lower_expr(lw, s, st->value);
  lw->let_expr = outer_expr;
  lw->let_name = outer_name;
  if (s == &lw->global && strcmp(st->name, "batch") == 0 && v.kind != FV_POISON) {
    if (v.kind != FV_NUM || !v.is_int || v.num < 1) {
      fe_lower_error(lw, st->value->span, st->value->span, "the batch size must be a positive integer");
      v = fe_poison();
    } else if (lw->opts && lw->opts->batch > 0) {
      v.num = (double)lw->opts->batch; /* the command line wins */
    }
    v.uses_batch = v.kind == FV_NUM;
    if (v.kind == FV_NUM) set_batch_meta(lw, v.num);
  }
  name_node(lw, s, v, st->name);
  bind(lw, s, st->name, st->name_span, v);
}

static void lower_input(fe_lower *lw, fe_scope *s, const fe_stmt *st) {
  if (redefined(lw, s, st->name, st->name_span)) return;
  ir_type t;
  fe_val v = fe_poison();
  if (fe_eval_type(lw, s, &st->type, &t, NULL)) {
    lw->f->loc = (ir_loc){st->name_span.line, st->name_span.col};
    v = fe_node_val(ir_func_add_arg(lw->f, IR_OP_INPUT, st->name, t));
  }
  bind(lw, s, st->name, st->name_span, v);
  s->items[s->n - 1].is_label = st->kind == ST_LABEL;
}

static void lower_param(fe_lower *lw, fe_scope *s, const fe_stmt *st) {
  if (redefined(lw, s, st->name, st->name_span)) return;
  ir_type t;
  fe_val v = fe_poison();
  const fe_expr *batch_dim;
  if (fe_eval_type(lw, s, &st->type, &t, &batch_dim)) {
    if (batch_dim) {
      /* The partial last batch and --batch N run models compiled for other batch sizes
       * on the same parameters (docs/training.md), so a parameter cannot grow with it. */
      fe_error_at(lw->c, batch_dim->span, batch_dim->span,
                  "parameter '%s' cannot have a shape that depends on the batch size: one set "
                  "of parameters serves every batch size (the partial last batch, --batch N)",
                  st->name);
      fe_note(lw->c, batch_dim->span, "a dimension of 1 broadcasts over the batch");
      call_notes(lw);
    } else if (!ir_dtype_is_float(t.dtype)) {
      fe_lower_error(lw, st->type.dtype_span, st->type.dtype_span,
                     "a parameter is trained by gradients, so it must be f32 or f64, not %s",
                     ir_dtype_name(t.dtype));
    } else {
      const char *name = qualified(lw, s, st->name);
      const char *init = fe_initializer_meta(lw, s, st->value, &t);
      if (init) {
        lw->f->loc = (ir_loc){st->name_span.line, st->name_span.col};
        v = fe_node_val(ir_func_add_arg(lw->f, IR_OP_PARAM, name, t));
        ir_module_set_meta(lw->m, fe_fmt(lw, "init.%s", name), init);
      }
    }
  }
  bind(lw, s, st->name, st->name_span, v);
}

/* The loss (an f32 scalar) and the output (any value: logits, a class index, ...). */
static ir_node *lower_result(fe_lower *lw, fe_scope *s, const fe_stmt *st, bool is_loss) {
  fe_val v = fe_lower_expr(lw, s, st->value);
  ir_node *n = fe_to_node(lw, v, IR_F32, st->value->span);
  if (!n) return NULL;
  char t[IR_TYPE_STR_MAX];
  if (is_loss && (n->type.rank != 0 || n->type.dtype != IR_F32)) {
    fe_lower_error(lw, st->value->span, st->value->span, "the loss must be an f32 scalar, but it is %s",
                   type_str(&n->type, t));
    if (n->type.rank != 0) fe_note(lw->c, st->value->span, "reduce it to one number, e.g. mean(...)");
    return NULL;
  }
  return n;
}

static void lower_stmt(fe_lower *lw, fe_scope *s, const fe_stmt *st) {
  bool top = s == &lw->global;
  if (st->broken) {
    /* Its error is reported; define its name so that its uses stay quiet, and count a
     * loss or output as given. */
    lw->loss_seen = lw->loss_seen || st->kind == ST_LOSS;
    lw->output_seen = lw->output_seen || st->kind == ST_OUTPUT;
    if (st->name && st->kind != ST_MODEL && st->kind != ST_DEF && !find_local(s, st->name))
      bind(lw, s, st->name, st->name_span, fe_poison());
    return;
  }
  switch (st->kind) {
  case ST_LET: lower_let(lw, s, st); break;
  case ST_PARAM: lower_param(lw, s, st); break;
  case ST_INPUT:
  case ST_LABEL: if (top) lower_input(lw, s, st); break;
  case ST_DEF: break; /* collected before lowering */
  case ST_RETURN:
    if (top) fe_error(lw->c, st->span, "'return' outside a function");
    break;
  case ST_MODEL:
    if (once(lw, &lw->model, st, "a name")) ir_module_set_meta(lw->m, "model", st->name);
    break;
  case ST_OUTPUT:
    lw->output_seen = true;
    if (once(lw, &lw->output, st, "an output")) lw->output_node = lower_result(lw, s, st, false);
    break;
  case ST_LOSS:
    lw->loss_seen = true;
    if (once(lw, &lw->loss, st, "a loss")) lw->loss_node = lower_result(lw, s, st, true);
    break;
  case ST_OPTIMIZER:
    if (once(lw, &lw->optimizer, st, "an optimizer")) {
      double lr;
      bool has_lr = false;
      const char *opt = fe_optimizer_meta(lw, st->value, &lr, &has_lr);
      if (opt) ir_module_set_meta(lw->m, "optimizer", opt);
      if (opt && has_lr) {
        char num[40];
        fe_format_number(lr, num, sizeof num);
        ir_module_set_meta(lw->m, "lr", num);
      }
    }
    break;
  case ST_TRAIN:
    if (once(lw, &lw->train, st, "training settings")) fe_train_meta(lw, st);
    break;
  case ST_DATA:
    if (once(lw, &lw->data, st, "a data source")) {
      const char *d = fe_data_meta(lw, st->value);
      if (d) ir_module_set_meta(lw->m, "data", d);
    }
    break;
  }
}

/* ---- the whole file ----------------------------------------------------------------------------- */

static const char *stmt_word(fe_stmt_kind k) {
  static const char *const words[] = {
      [ST_MODEL] = "model", [ST_LET] = "", [ST_INPUT] = "input", [ST_LABEL] = "label",
      [ST_PARAM] = "param", [ST_OUTPUT] = "output", [ST_LOSS] = "loss",
      [ST_OPTIMIZER] = "optimizer", [ST_TRAIN] = "train", [ST_DATA] = "data",
      [ST_DEF] = "def", [ST_RETURN] = "return"};
  return words[k];
}

/* Collects the functions (they may be called before they are defined) and checks their
 * shape: unique names, parameters and locals only, one return at the end. */
static void collect_defs(fe_lower *lw, const fe_program *prog) {
  lw->defs = fe_alloc(&lw->c->arena, (size_t)(prog->nstmts + 1) * sizeof *lw->defs);
  lw->def_ok = fe_alloc(&lw->c->arena, (size_t)(prog->nstmts + 1) * sizeof *lw->def_ok);
  for (int i = 0; i < prog->nstmts; i++) {
    const fe_stmt *st = prog->stmts[i];
    if (st->kind != ST_DEF || !st->name) continue;
    if (fe_is_builtin(st->name)) {
      fe_error(lw->c, st->name_span, "'%s' is a built-in function and cannot be redefined", st->name);
      continue;
    }
    const fe_stmt *prev = find_def(lw, st->name);
    if (prev) {
      fe_error(lw->c, st->name_span, "redefinition of function '%s'", st->name);
      fe_note(lw->c, prev->name_span, "'%s' was first defined here", st->name);
      continue;
    }
    bool ok = !st->broken;
    if (st->nparams > FE_MAX_SIG) {
      fe_error(lw->c, st->param_spans[FE_MAX_SIG], "a function takes at most %d parameters", FE_MAX_SIG);
      ok = false;
    }
    for (int a = 0; a < st->nparams; a++) {
      for (int b = 0; b < a; b++) {
        if (strcmp(st->params[a], st->params[b]) == 0) {
          fe_error(lw->c, st->param_spans[a], "parameter '%s' is listed twice", st->params[a]);
          ok = false;
        }
      }
    }
    int returns = 0;
    for (int b = 0; b < st->nbody; b++) {
      const fe_stmt *inner = st->body[b];
      if (inner->broken) {
        ok = false;
        returns += inner->kind == ST_RETURN;
      } else if (inner->kind == ST_RETURN) {
        if (returns++ == 0 && b != st->nbody - 1)
          fe_error(lw->c, st->body[b + 1]->span, "statement after 'return' is never reached");
      } else if (inner->kind != ST_LET && inner->kind != ST_PARAM) {
        fe_error(lw->c, inner->span,
                 "'%s' cannot appear inside a function (only NAME = ..., param and return can)",
                 stmt_word(inner->kind));
        ok = false;
      }
    }
    if (returns == 0 && ok) {
      fe_error(lw->c, st->name_span, "function '%s' does not return a value", st->name);
      fe_note(lw->c, st->span, "end its body with `return EXPRESSION`");
      ok = false;
    }
    /* A broken function is still known, so its calls are not "unknown functions". */
    lw->def_ok[lw->ndefs] = ok;
    lw->defs[lw->ndefs++] = st;
  }
  lw->calls = fe_alloc(&lw->c->arena, (size_t)(lw->ndefs + 1) * sizeof *lw->calls);
}

/* Arguments in the order dlc promises: features, then labels, then parameters (each in
 * the order of their declarations). */
static void order_args(fe_lower *lw) {
  ir_func *f = lw->f;
  ir_node **sorted = ir_alloc(lw->m, (size_t)(f->nargs + 1) * sizeof *sorted);
  int k = 0;
  for (int pass = 0; pass < 3; pass++) {
    for (int i = 0; i < f->nargs; i++) {
      ir_node *a = f->args[i];
      const fe_binding *b = a->op == IR_OP_INPUT ? find_local(&lw->global, a->name) : NULL;
      bool label = b && b->is_label;
      int group = a->op == IR_OP_PARAM ? 2 : label ? 1 : 0;
      if (group == pass) sorted[k++] = a;
    }
  }
  f->args = sorted;
}

static void finish(fe_lower *lw, const fe_program *prog) {
  fe_span end = {1, 1, 1, 2};
  if (lw->model) end = lw->model->name_span;
  if (!lw->loss_seen)
    fe_error(lw->c, end, "the model has no loss; add a line `loss EXPRESSION` (a scalar to minimise)");
  if (!lw->output_seen)
    fe_error(lw->c, end, "the model has no output; add a line `output EXPRESSION` (its prediction)");
  if (lw->c->diags->nerrors > lw->base_errors) return;

  const char *labels = NULL;
  for (int i = 0; i < lw->global.n; i++)
    if (lw->global.items[i].is_label)
      labels = labels ? fe_fmt(lw, "%s,%s", labels, lw->global.items[i].name) : lw->global.items[i].name;
  if (labels) ir_module_set_meta(lw->m, "labels", labels);
  ir_func_add_output(lw->f, "loss", lw->loss_node);
  ir_func_add_output(lw->f, "prediction", lw->output_node);
  order_args(lw);
}

ir_module *fe_compile(const char *path, const char *source, size_t len, const fe_options *opts,
                      fe_diagnostics *diags) {
  int base_errors = diags->nerrors, first_diag = diags->count;
  fe_ctx c = {.path = path ? path : "<input>", .src = source ? source : "", .len = source ? len : 0,
              .diags = diags};
  int ntoks;
  fe_token *toks = fe_lex(&c, &ntoks);
  fe_program *prog = fe_parse(&c, toks, ntoks);

  fe_lower lw = {.c = &c, .opts = opts, .base_errors = base_errors};
  lw.m = ir_module_create();
  lw.f = ir_func_create(lw.m, "forward");
  collect_defs(&lw, prog);
  if (opts && opts->batch > 0) {
    bool declared = false;
    for (int i = 0; i < prog->nstmts; i++)
      declared = declared || (prog->stmts[i]->kind == ST_LET && !strcmp(prog->stmts[i]->name, "batch"));
    if (!declared) {
      bind(&lw, &lw.global, "batch", (fe_span){0},
           (fe_val){.kind = FV_NUM, .num = (double)opts->batch, .is_int = true, .uses_batch = true});
      set_batch_meta(&lw, (double)opts->batch);
    }
  }
  for (int i = 0; i < prog->nstmts; i++) lower_stmt(&lw, &lw.global, prog->stmts[i]);
  fe_sort_diagnostics(diags, first_diag);
  finish(&lw, prog);

  ir_module *m = lw.m;
  if (diags->nerrors == lw.base_errors) {
    ir_error err = {0};
    if (!ir_verify_module(m, &err)) {
      fe_span at = {err.loc.line, err.loc.col, err.loc.line, err.loc.col + 1};
      fe_error(&c, at, "internal error: the lowered IR does not verify: %s", err.msg);
    }
  }
  fe_arena_free(&c.arena);
  if (diags->nerrors > lw.base_errors) {
    ir_module_destroy(m);
    return NULL;
  }
  return m;
}

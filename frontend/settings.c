/* The model's settings: parameter initialisers, the optimiser, training defaults and
 * the data source. Each is checked against a table here (names, arguments, ranges) so
 * a mistake is reported at compile time with its line, and written into the module's
 * meta entries in one canonical text form that the passes and the runtime parse:
 *
 *   init.w    = normal(0, 0.01)          positional, defaults filled up to the last given
 *   optimizer = sgd(lr=0.03, momentum=0.9)   the given keys, in the table's order
 *   data      = csv(path=digits.csv, features=pixel0..pixel63, label=label)
 *
 * Numbers are written in their shortest exact form; a text value is written bare when
 * it is made of [A-Za-z0-9_./+-] only, else in double quotes with \" and \\ escaped. */
#include <math.h>
#include <string.h>

#include "fe_impl.h"

/* ---- text building ------------------------------------------------------------------ */

typedef struct {
  char *buf;
  size_t len, cap;
  fe_arena *arena;
} text;

static void put(text *t, const char *s) {
  size_t n = strlen(s);
  if (t->len + n + 1 > t->cap) {
    size_t ncap = (t->cap ? t->cap * 2 : 128) + n;
    char *b = fe_alloc(t->arena, ncap);
    if (t->len) memcpy(b, t->buf, t->len);
    t->buf = b;
    t->cap = ncap;
  }
  memcpy(t->buf + t->len, s, n + 1);
  t->len += n;
}

static void put_number(text *t, double v) {
  char num[40];
  fe_format_number(v, num, sizeof num);
  put(t, num);
}

static void put_word(text *t, const char *s) {
  bool bare = *s != '\0';
  for (const char *p = s; *p; p++)
    bare = bare && (strchr("_./+-", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= 'A' && *p <= 'Z'));
  if (bare) {
    put(t, s);
    return;
  }
  put(t, "\"");
  for (const char *p = s; *p; p++) {
    char esc[3] = {'\\', *p, 0};
    put(t, *p == '"' || *p == '\\' ? esc : (char[]){*p, 0});
  }
  put(t, "\"");
}

/* ---- initialisers ---------------------------------------------------------------------- */

/* Mirrors runtime/init.c (test_frontend_tables checks every spec against rt_init_check). */
static const fe_initializer initializers[] = {
    {"zeros", 0, {0}, {0}, 0, {0}},
    {"ones", 0, {0}, {0}, 0, {0}},
    {"constant", 1, {"value"}, {0}, 1, {0}},
    {"uniform", 2, {"a", "b"}, {0, 1}, 0, {0}},
    {"normal", 2, {"mean", "std"}, {0, 1}, 0, {0}},
    {"xavier_uniform", 1, {"gain"}, {1}, 0, {0}},
    {"xavier_normal", 1, {"gain"}, {1}, 0, {0}},
    {"kaiming_uniform", 2, {"a", "mode"}, {0, 0}, 0, {false, true}},
    {"kaiming_normal", 2, {"a", "mode"}, {0, 0}, 0, {false, true}},
};

/* Other names people use for the same initialisers (Keras, papers). */
static const struct {
  const char *alias, *name;
} init_aliases[] = {
    {"glorot_uniform", "xavier_uniform"}, {"glorot_normal", "xavier_normal"},
    {"he_uniform", "kaiming_uniform"},    {"he_normal", "kaiming_normal"},
    {"zero", "zeros"},                     {"one", "ones"},
};

#define NINIT (sizeof initializers / sizeof initializers[0])
#define NALIAS (sizeof init_aliases / sizeof init_aliases[0])

const fe_initializer *fe_find_initializer(const char *name, size_t len) {
  for (size_t i = 0; i < NALIAS; i++)
    if (strlen(init_aliases[i].alias) == len && memcmp(init_aliases[i].alias, name, len) == 0)
      return fe_find_initializer(init_aliases[i].name, strlen(init_aliases[i].name));
  for (size_t i = 0; i < NINIT; i++)
    if (strlen(initializers[i].name) == len && memcmp(initializers[i].name, name, len) == 0)
      return &initializers[i];
  return NULL;
}

static const char *list_sig(fe_lower *lw, const char *const *names, int n, int nrequired) {
  const char *sig = "";
  for (int i = 0; i < n; i++)
    sig = fe_fmt(lw, "%s%s%s%s", sig, i ? ", " : "", names[i], i < nrequired ? "" : "?");
  return sig;
}

const char *fe_initializer_meta(fe_lower *lw, fe_scope *s, const fe_expr *init, const ir_type *param) {
  (void)param;
  const fe_initializer *in = fe_find_initializer(init->text, strlen(init->text));
  if (!in) {
    const char *names[NINIT + NALIAS];
    for (size_t i = 0; i < NINIT; i++) names[i] = initializers[i].name;
    for (size_t i = 0; i < NALIAS; i++) names[NINIT + i] = init_aliases[i].alias;
    const char *close = fe_closest(init->text, names, (int)(NINIT + NALIAS));
    if (close)
      fe_lower_error(lw, init->op_span, init->op_span, "unknown initialiser '%s'; did you mean '%s'?",
                     init->text, close);
    else
      fe_lower_error(lw, init->op_span, init->op_span,
                     "unknown initialiser '%s' (known: zeros, ones, constant, uniform, normal, "
                     "xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal)",
                     init->text);
    return NULL;
  }
  fe_bound_args a = {0};
  if (init->kind == EX_CALL &&
      !fe_bind_args(lw, init, fe_fmt(lw, "initialiser '%s'", in->name),
                    list_sig(lw, in->args, in->nargs, in->nrequired), &a))
    return NULL;
  if (init->kind != EX_CALL && in->nrequired > 0) {
    fe_lower_error(lw, init->span, init->span, "initialiser '%s' needs its argument '%s', e.g. %s(0.1)",
                   in->name, in->args[0], in->name);
    return NULL;
  }
  double vals[3];
  int last = -1;
  for (int i = 0; i < in->nargs; i++) {
    vals[i] = in->defaults[i];
    const fe_expr *e = a.slot[i];
    if (!e) continue;
    last = i;
    if (in->mode_arg[i]) {
      if (e->kind != EX_NAME || (strcmp(e->text, "fan_in") && strcmp(e->text, "fan_out"))) {
        fe_lower_error(lw, e->span, e->span, "'%s' must be fan_in or fan_out", in->args[i]);
        return NULL;
      }
      vals[i] = strcmp(e->text, "fan_out") == 0;
    } else if (!fe_eval_number(lw, s, e, &vals[i])) {
      return NULL;
    }
  }
  const char *problem = NULL;
  if (!strcmp(in->name, "uniform") && vals[0] > vals[1]) problem = "uniform(a, b) needs a <= b";
  if (!strcmp(in->name, "normal") && vals[1] < 0) problem = "the standard deviation must be >= 0";
  if (!strncmp(in->name, "xavier", 6) && vals[0] < 0) problem = "the gain must be >= 0";
  if (problem) {
    fe_lower_error(lw, init->span, init->span, "%s", problem);
    return NULL;
  }
  text t = {.arena = &fe_lower_ctx(lw)->arena};
  put(&t, in->name);
  if (last >= 0) {
    put(&t, "(");
    for (int i = 0; i <= last; i++) {
      if (i) put(&t, ", ");
      if (in->mode_arg[i])
        put(&t, vals[i] ? "fan_out" : "fan_in");
      else
        put_number(&t, vals[i]);
    }
    put(&t, ")");
  }
  return t.buf;
}

/* ---- keyed settings: optimisers, data sources, train -------------------------------------- */

typedef enum {
  V_NUMBER,  /* a constant number */
  V_INT,     /* a constant integer */
  V_BOOL,    /* true or false */
  V_STRING,  /* a quoted string (a path) */
  V_COLUMN,  /* one column: a name or a quoted string */
  V_COLUMNS, /* columns: a column, a range a..b, or a list of those */
  V_NUMBERS, /* a list of constant numbers */
  V_WORD,    /* one of the words in the key's `words` ("error|zeros") */
  V_MISSING, /* a missing-value policy, or fill(...) of them per column */
} value_kind;

typedef struct {
  const char *name;
  value_kind kind;
  bool required;
  double lo, hi;      /* V_NUMBER / V_INT: allowed range */
  bool open_lo, open_hi; /* the bound itself is excluded */
  const char *words;     /* V_WORD: the allowed words, '|'-separated */
} key;

#define NO_RANGE -INFINITY, INFINITY, false, false, NULL
#define POSITIVE 0, INFINITY, true, false, NULL     /* > 0 */
#define NONNEG 0, INFINITY, false, false, NULL      /* >= 0 */
#define FRACTION 0, 1, false, true, NULL            /* [0, 1) */
#define WORDS(w) -INFINITY, INFINITY, false, false, w
#define MAX_KEYS 12

typedef struct {
  const char *name;
  key keys[MAX_KEYS];
} keyed;

/* The optimisers of passes/optimizer.c, with the keys it reads; adamw takes adam's. */
#define ADAM_KEYS                                                                      \
  {{"lr", V_NUMBER, false, POSITIVE},         {"beta1", V_NUMBER, false, FRACTION}, \
   {"beta2", V_NUMBER, false, FRACTION},      {"eps", V_NUMBER, false, POSITIVE},   \
   {"weight_decay", V_NUMBER, false, NONNEG}, {"amsgrad", V_BOOL, false, NO_RANGE}}
static const keyed optimizers[] = {
    {"sgd", {{"lr", V_NUMBER, true, POSITIVE}, {"momentum", V_NUMBER, false, FRACTION},
             {"nesterov", V_BOOL, false, NO_RANGE}, {"weight_decay", V_NUMBER, false, NONNEG},
             {"dampening", V_NUMBER, false, FRACTION}}},
    {"adam", ADAM_KEYS},
    {"adamw", ADAM_KEYS},
};

/* Data sources. A new option is one more row here. */
static const keyed sources[] = {
    {"csv", {{"path", V_STRING, true, NO_RANGE}, {"features", V_COLUMNS, false, NO_RANGE},
             {"label", V_COLUMN, false, NO_RANGE}, {"standardize", V_BOOL, false, NO_RANGE},
             {"missing", V_MISSING, false, NO_RANGE}, {"categorical", V_COLUMNS, false, NO_RANGE},
             {"dummy_na", V_BOOL, false, NO_RANGE},
             {"unseen", V_WORD, false, WORDS("error|zeros")}}},
    {"npy", {{"features", V_STRING, true, NO_RANGE}, {"labels", V_STRING, false, NO_RANGE}}},
    /* y = Xw + b + noise·N(0, 1), X ~ N(0, 1); defaults (runtime): b 0, n 1000, noise 0.01 */
    {"synthetic_linreg", {{"w", V_NUMBERS, true, NO_RANGE}, {"b", V_NUMBER, false, NO_RANGE},
                          {"n", V_INT, false, 1, 1e12, false, false, NULL}, {"noise", V_NUMBER, false, NONNEG},
                          {"seed", V_INT, false, NONNEG}}},
};

static const keyed train_settings = {
    "train", {{"epochs", V_INT, false, 1, 1e9, false, false, NULL}, {"seed", V_INT, false, NONNEG}}};

static int nkeys(const keyed *k) {
  int n = 0;
  while (n < MAX_KEYS && k->keys[n].name) n++;
  return n;
}

static bool put_value(fe_lower *lw, fe_scope *s, text *t, const fe_expr *e, value_kind kind, const key *k);

/* The argument bound to the row's key `name`, or NULL (not given, or no such key). */
static const fe_expr *slot_named(const keyed *row, const fe_expr *const *slots, const char *name) {
  for (int i = 0; i < nkeys(row); i++)
    if (!strcmp(row->keys[i].name, name)) return slots[i];
  return NULL;
}

static bool put_column(fe_lower *lw, text *t, const fe_expr *e) {
  if (e->kind != EX_NAME && e->kind != EX_STRING) {
    fe_lower_error(lw, e->span, e->span, "expected a column name");
    return false;
  }
  put_word(t, e->text);
  return true;
}

/* Any value, canonically: numbers (constant expressions), names, strings, ranges, lists
 * and calls with keyword arguments. */
static bool put_any(fe_lower *lw, fe_scope *s, text *t, const fe_expr *e) {
  switch (e->kind) {
  case EX_NAME:
  case EX_STRING:
    put_word(t, e->text);
    return true;
  case EX_RANGE:
    return put_column(lw, t, e->lhs) && (put(t, ".."), put_column(lw, t, e->rhs));
  case EX_LIST:
  case EX_CALL:
    if (e->kind == EX_CALL) put(t, e->text);
    put(t, e->kind == EX_LIST ? "[" : "(");
    for (int i = 0; i < e->nargs; i++) {
      if (i) put(t, ", ");
      if (e->args[i].name) {
        put(t, e->args[i].name);
        put(t, "=");
      }
      if (!put_any(lw, s, t, e->args[i].value)) return false;
    }
    put(t, e->kind == EX_LIST ? "]" : ")");
    return true;
  default: {
    double v;
    if (!fe_eval_number(lw, s, e, &v)) return false;
    put_number(t, v);
    return true;
  }
  }
}

/* The missing-value policies of runtime/prep_spec.c, checked here so that a mistake is
 * shown where it is written (test_frontend checks that both accept the same). */
static const char *const policy_words[] = {"error", "mean", "median", "mode"};
#define POLICY_LIST "error, mean, median, mode or constant(v)"

static bool is_policy_word(const char *w) {
  for (size_t i = 0; i < sizeof policy_words / sizeof policy_words[0]; i++)
    if (!strcmp(w, policy_words[i])) return true;
  return false;
}

/* A value that is no number, word or string: a call, a list or a range. */
static bool is_compound(const fe_expr *e) { return e->kind == EX_CALL || e->kind == EX_LIST || e->kind == EX_RANGE; }

/* One policy: a word, a number (constant), or constant(v). */
static bool check_policy(fe_lower *lw, const fe_expr *e) {
  if (e->kind == EX_NAME) {
    if (is_policy_word(e->text)) return true;
    if (!strcmp(e->text, "constant")) {
      fe_lower_error(lw, e->span, e->span, "constant needs its value, e.g. constant(0)");
      return false;
    }
    const char *close = fe_closest(e->text, policy_words, sizeof policy_words / sizeof policy_words[0]);
    if (close)
      fe_lower_error(lw, e->span, e->span, "'%s' is not a missing-value policy; did you mean '%s'? (" POLICY_LIST ")",
                     e->text, close);
    else
      fe_lower_error(lw, e->span, e->span, "'%s' is not a missing-value policy (" POLICY_LIST ")", e->text);
    return false;
  }
  if (e->kind == EX_CALL && !strcmp(e->text, "constant")) {
    const fe_arg *a = e->nargs == 1 ? &e->args[0] : NULL;
    if (a && (!a->name || !strcmp(a->name, "value")) && !is_compound(a->value)) return true;
    fe_lower_error(lw, e->span, e->span, "constant takes one value: a number, or a category in quotes");
    return false;
  }
  if (is_compound(e) || e->kind == EX_STRING) {
    fe_lower_error(lw, e->span, e->span, "a missing-value policy is " POLICY_LIST);
    return false;
  }
  return true; /* a number: put_any evaluates it */
}

/* `missing = POLICY` or `missing = fill([POLICY,] col = POLICY, ...)`. */
static bool check_missing(fe_lower *lw, const fe_expr *e) {
  if (e->kind != EX_CALL || strcmp(e->text, "fill")) return check_policy(lw, e);
  for (int i = 0; i < e->nargs; i++) {
    const fe_arg *a = &e->args[i];
    if (!a->name && i > 0) {
      fe_lower_error(lw, a->value->span, a->value->span,
                     "fill(...) takes the policy for every other column first, then column = policy");
      return false;
    }
    for (int j = 0; a->name && j < i; j++)
      if (e->args[j].name && !strcmp(e->args[j].name, a->name)) {
        fe_lower_error(lw, a->name_span, a->name_span, "column '%s' has two missing-value policies", a->name);
        fe_note(fe_lower_ctx(lw), e->args[j].name_span, "its first is here");
        return false;
      }
    if (!check_policy(lw, a->value)) return false;
  }
  return true;
}

static bool put_value(fe_lower *lw, fe_scope *s, text *t, const fe_expr *e, value_kind kind, const key *k) {
  switch (kind) {
  case V_NUMBER:
  case V_INT: {
    double v;
    if (kind == V_INT) {
      int64_t i;
      if (!fe_eval_int(lw, s, e, &i)) return false;
      v = (double)i;
    } else if (!fe_eval_number(lw, s, e, &v)) {
      return false;
    }
    if (v < k->lo || v > k->hi || (k->open_lo && v == k->lo) || (k->open_hi && v == k->hi)) {
      char lo[40], hi[40];
      fe_format_number(k->lo, lo, sizeof lo);
      fe_format_number(k->hi, hi, sizeof hi);
      if (isinf(k->hi))
        fe_lower_error(lw, e->span, e->span, "'%s' must be %s %s", k->name, k->open_lo ? ">" : ">=", lo);
      else
        fe_lower_error(lw, e->span, e->span, "'%s' must be in %s%s, %s%s", k->name, k->open_lo ? "(" : "[",
                       lo, hi, k->open_hi ? ")" : "]");
      return false;
    }
    put_number(t, v);
    return true;
  }
  case V_BOOL: {
    bool b;
    if (!fe_eval_bool(lw, e, &b)) return false;
    put(t, b ? "true" : "false");
    return true;
  }
  case V_STRING:
    if (e->kind != EX_STRING) {
      fe_lower_error(lw, e->span, e->span, "expected a quoted string, e.g. \"data.csv\"");
      return false;
    }
    put_word(t, e->text);
    return true;
  case V_COLUMN:
    return put_column(lw, t, e);
  case V_COLUMNS:
    if (e->kind == EX_LIST) {
      if (e->nargs == 0) {
        fe_lower_error(lw, e->span, e->span, "expected at least one column");
        return false;
      }
      put(t, "[");
      for (int i = 0; i < e->nargs; i++) {
        if (i) put(t, ", ");
        if (!put_value(lw, s, t, e->args[i].value, V_COLUMNS, k)) return false;
      }
      put(t, "]");
      return true;
    }
    if (e->kind == EX_RANGE) return put_any(lw, s, t, e);
    return put_column(lw, t, e);
  case V_NUMBERS:
    if (e->kind != EX_LIST || e->nargs == 0) {
      fe_lower_error(lw, e->span, e->span, "expected a list of numbers, e.g. [2, -3.4]");
      return false;
    }
    put(t, "[");
    for (int i = 0; i < e->nargs; i++) {
      double v;
      if (!fe_eval_number(lw, s, e->args[i].value, &v)) return false;
      if (i) put(t, ", ");
      put_number(t, v);
    }
    put(t, "]");
    return true;
  case V_WORD: {
    size_t n = e->kind == EX_NAME ? strlen(e->text) : 0;
    for (const char *w = k->words; n && *w; w += strcspn(w, "|"), w += *w == '|') {
      if (strcspn(w, "|") == n && strncmp(w, e->text, n) == 0) {
        put(t, e->text);
        return true;
      }
    }
    char *list = fe_fmt(lw, "%s", k->words);
    for (char *c = list; *c; c++)
      if (*c == '|') *c = '/';
    fe_lower_error(lw, e->span, e->span, "'%s' must be one of %s", k->name, list);
    return false;
  }
  case V_MISSING:
    return check_missing(lw, e) && put_any(lw, s, t, e);
  }
  return false;
}

/* Binds `call` against the table row and writes "name(key=value, ...)" with the given
 * keys in the row's order ("name" alone when none is given). */
static const char *keyed_meta(fe_lower *lw, const fe_expr *call, const keyed *row, const char *what,
                              const fe_expr **slots) {
  int n = nkeys(row);
  const char *names[MAX_KEYS];
  for (int i = 0; i < n; i++) names[i] = row->keys[i].name;
  const char *sig = "";
  for (int i = 0; i < n; i++)
    sig = fe_fmt(lw, "%s%s%s%s", sig, i ? ", " : "", names[i], row->keys[i].required ? "" : "?");
  fe_bound_args a = {0};
  if (call->kind == EX_CALL && !fe_bind_args(lw, call, fe_fmt(lw, "%s '%s'", what, row->name), sig, &a))
    return NULL;
  for (int i = 0; i < n; i++) {
    if (row->keys[i].required && !a.slot[i]) {
      fe_lower_error(lw, call->span, call->span, "%s '%s' needs '%s', e.g. %s(%s = ...)", what, row->name,
                     row->keys[i].name, row->name, row->keys[i].name);
      return NULL;
    }
  }
  text t = {.arena = &fe_lower_ctx(lw)->arena};
  put(&t, row->name);
  bool any = false;
  for (int i = 0; i < n; i++) {
    if (!a.slot[i]) continue;
    put(&t, any ? ", " : "(");
    any = true;
    put(&t, row->keys[i].name);
    put(&t, "=");
    if (!put_value(lw, fe_global_scope(lw), &t, a.slot[i], row->keys[i].kind, &row->keys[i])) return NULL;
  }
  if (any) put(&t, ")");
  if (slots)
    for (int i = 0; i < n; i++) slots[i] = a.slot[i];
  return t.buf;
}

static const keyed *find_row(fe_lower *lw, const fe_expr *call, const keyed *rows, int nrows, const char *what) {
  const char *names[8];
  for (int i = 0; i < nrows; i++) {
    if (strcmp(rows[i].name, call->text) == 0) return &rows[i];
    names[i] = rows[i].name;
  }
  const char *close = fe_closest(call->text, names, nrows);
  if (close)
    fe_lower_error(lw, call->op_span, call->op_span, "unknown %s '%s'; did you mean '%s'?", what, call->text, close);
  else
    fe_lower_error(lw, call->op_span, call->op_span, "unknown %s '%s'", what, call->text);
  return NULL;
}

const char *fe_optimizer_meta(fe_lower *lw, const fe_expr *call, double *lr, bool *has_lr) {
  const keyed *row = find_row(lw, call, optimizers, (int)(sizeof optimizers / sizeof optimizers[0]), "optimizer");
  if (!row) return NULL;
  const fe_expr *slots[MAX_KEYS] = {0};
  const char *meta = keyed_meta(lw, call, row, "optimizer", slots);
  if (!meta) return NULL;
  const fe_expr *lr_at = slot_named(row, slots, "lr"), *nesterov_at = slot_named(row, slots, "nesterov");
  *has_lr = lr_at != NULL;
  if (*has_lr) fe_eval_number(lw, fe_global_scope(lw), lr_at, lr);
  if (nesterov_at) {
    const fe_expr *momentum_at = slot_named(row, slots, "momentum");
    const fe_expr *dampening_at = slot_named(row, slots, "dampening");
    bool nesterov = false;
    double momentum = 0, dampening = 0;
    fe_eval_bool(lw, nesterov_at, &nesterov);
    if (momentum_at) fe_eval_number(lw, fe_global_scope(lw), momentum_at, &momentum);
    if (dampening_at) fe_eval_number(lw, fe_global_scope(lw), dampening_at, &dampening);
    const fe_expr *at = nesterov_at;
    if (nesterov && momentum <= 0) {
      fe_lower_error(lw, at->span, at->span, "nesterov needs a momentum above 0");
      return NULL;
    }
    if (nesterov && dampening != 0) {
      fe_lower_error(lw, at->span, at->span, "nesterov needs a dampening of 0");
      return NULL;
    }
  }
  return meta;
}

const char *fe_data_meta(fe_lower *lw, const fe_expr *call) {
  const keyed *row = find_row(lw, call, sources, (int)(sizeof sources / sizeof sources[0]), "data source");
  return row ? keyed_meta(lw, call, row, "data source", NULL) : NULL;
}

void fe_train_meta(fe_lower *lw, const fe_stmt *st) {
  int n = nkeys(&train_settings);
  for (int i = 0; i < st->nsettings; i++) {
    const fe_arg *a = &st->settings[i];
    int k = 0;
    while (k < n && strcmp(train_settings.keys[k].name, a->name)) k++;
    if (k == n) {
      const char *names[MAX_KEYS];
      for (int j = 0; j < n; j++) names[j] = train_settings.keys[j].name;
      const char *close = fe_closest(a->name, names, n);
      if (!strcmp(a->name, "batch"))
        fe_lower_error(lw, a->name_span, a->name_span,
                       "set the batch size with a line `batch = N` (it also names the inputs' batch dimension)");
      else if (!strcmp(a->name, "lr"))
        fe_lower_error(lw, a->name_span, a->name_span,
                       "the learning rate belongs to the optimizer: optimizer sgd(lr = 0.1)");
      else if (close)
        fe_lower_error(lw, a->name_span, a->name_span, "unknown training setting '%s'; did you mean '%s'?",
                       a->name, close);
      else
        fe_lower_error(lw, a->name_span, a->name_span, "unknown training setting '%s' (known: epochs, seed)",
                       a->name);
      continue;
    }
    bool dup = false;
    for (int j = 0; j < i; j++) dup = dup || !strcmp(st->settings[j].name, a->name);
    if (dup) {
      fe_lower_error(lw, a->name_span, a->name_span, "'%s' is set twice", a->name);
      continue;
    }
    text t = {.arena = &fe_lower_ctx(lw)->arena};
    if (put_value(lw, fe_global_scope(lw), &t, a->value, train_settings.keys[k].kind, &train_settings.keys[k]))
      fe_set_meta(lw, a->name, t.buf);
  }
}

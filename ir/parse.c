/* The parser of the textual tensor IR: the text ir_print_module writes, read back into a
 * module. It is the front door of `dlc opt` and of every pass test, so any bytes at all
 * must give either a module or an error with a line, a column and a clear message; never
 * a crash, an assertion, a leak or unbounded recursion (the grammar has no nesting).
 *
 * The format is line-oriented: one meta entry, function header or statement a line;
 * blank lines and `#` or `//` comments are skipped. Every node is built with ir_build,
 * given its written type, so the op's shape rule checks it as it would any pass's node.
 *
 * Errors unwind with longjmp to ir_parse (as Lua's luaD_throw does), which frees the
 * parser's scratch memory and the half-built module in one place. */
#include "ir.h"

#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Bound on every dimension, element count and integer attribute. Far beyond any real
 * tensor, small enough that no sum or product a shape rule forms can overflow int64. */
#define TEXT_MAX_EXTENT ((int64_t)1 << 48)

typedef enum {
  T_EOF,
  T_NEWLINE,
  T_IDENT,  /* [A-Za-z_][A-Za-z0-9_.]*: keywords, ops, dtypes, meta keys, output names */
  T_VALUE,  /* %name or %123; text excludes the '%' */
  T_GLOBAL, /* @name; text excludes the '@' */
  T_NUMBER, /* -?digits[.digits][e[+-]digits], or -inf / -nan */
  T_STRING, /* "..."; text is the decoded contents (in the parser's string buffer) */
  T_PUNCT,  /* one of = , : [ ] ( ) { } */
} tok_kind;

typedef struct {
  tok_kind kind;
  const char *text;
  size_t len;
  ir_loc loc;
} token;

/* Symbol table of one function: value name as written (pointing into the source) to its
 * node. Open addressing; the key of a numeric name is its digits. */
typedef struct {
  const char *key;
  size_t len;
  ir_node *node;
  ir_loc loc;
} symbol;

typedef struct {
  const char *p, *end, *line_start;
  int line;
  token tok;
  ir_module *m;
  ir_func *f;
  ir_error *err;
  jmp_buf fail;
  symbol *syms;
  size_t syms_cap, nsyms;
  ir_node **operands; /* scratch: operands of the instruction being parsed */
  size_t operands_cap;
  double *values; /* scratch: const values */
  size_t values_cap;
  char *sbuf; /* scratch: decoded string literal */
  size_t sbuf_cap;
} parser;

static _Noreturn __attribute__((format(printf, 3, 4))) void fail(parser *ps, ir_loc loc, const char *fmt,
                                                                 ...) {
  ps->err->loc = loc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ps->err->msg, sizeof ps->err->msg, fmt, ap);
  va_end(ap);
  longjmp(ps->fail, 1);
}

/* Grows a scratch array to hold `need` items of `elem` bytes; fails cleanly on overflow. */
static void reserve(parser *ps, void **items, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return;
  size_t ncap = *cap ? *cap : 16;
  while (ncap < need)
    ncap *= 2;
  void *n = ncap <= SIZE_MAX / elem ? realloc(*items, ncap * elem) : NULL;
  if (!n) fail(ps, ps->tok.loc, "out of memory");
  *items = n;
  *cap = ncap;
}

/* ---- lexer ----------------------------------------------------------------------- */

static bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c) || c == '.'; }

static ir_loc here(const parser *ps, const char *at) {
  return (ir_loc){ps->line, (int)(at - ps->line_start) + 1};
}

static const char *scan_ident(const parser *ps, const char *p) {
  while (p < ps->end && is_ident_char(*p))
    p++;
  return p;
}

/* string = '"' (char | '\"' | '\\' | '\n')* '"' on one line */
static const char *lex_string(parser *ps, const char *p) {
  size_t n = 0;
  for (p++;; p++) {
    if (p == ps->end || *p == '\n') fail(ps, ps->tok.loc, "unterminated string");
    char c = *p;
    if (c == '"') break;
    if (c == '\0') fail(ps, here(ps, p), "NUL byte in string");
    if (c == '\\') {
      char e = p + 1 < ps->end ? p[1] : '\0';
      if (e == 'n')
        c = '\n';
      else if (e == '"' || e == '\\')
        c = e;
      else
        fail(ps, here(ps, p), "unknown escape in string (use \\\", \\\\ or \\n)");
      p++;
    }
    reserve(ps, (void **)&ps->sbuf, &ps->sbuf_cap, n + 1, 1);
    ps->sbuf[n++] = c;
  }
  ps->tok.text = ps->sbuf ? ps->sbuf : "";
  ps->tok.len = n;
  return p + 1;
}

/* number = '-'? digits ('.' digits*)? ([eE] [+-]? digits)? | '-'? ('inf' | 'nan') */
static const char *lex_number(parser *ps, const char *p) {
  const char *s = p;
  if (*p == '-') p++;
  if (p < ps->end && is_ident_start(*p)) {
    const char *e = scan_ident(ps, p);
    if ((e - p == 3 && memcmp(p, "inf", 3) == 0) || (e - p == 3 && memcmp(p, "nan", 3) == 0)) return e;
    fail(ps, ps->tok.loc, "invalid number '%.*s'", (int)(e - s > 40 ? 40 : e - s), s);
  }
  if (p == ps->end || !is_digit(*p)) fail(ps, ps->tok.loc, "expected a digit after '-'");
  while (p < ps->end && is_digit(*p))
    p++;
  if (p < ps->end && *p == '.') {
    p++;
    while (p < ps->end && is_digit(*p))
      p++;
  }
  if (p < ps->end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < ps->end && (*p == '+' || *p == '-')) p++;
    if (p == ps->end || !is_digit(*p)) fail(ps, ps->tok.loc, "invalid exponent in number");
    while (p < ps->end && is_digit(*p))
      p++;
  }
  if (p < ps->end && is_ident_char(*p)) {
    const char *e = scan_ident(ps, p);
    fail(ps, ps->tok.loc, "invalid number '%.*s'", (int)(e - s > 40 ? 40 : e - s), s);
  }
  return p;
}

static void next(parser *ps) {
  const char *p = ps->p;
  while (p < ps->end && (*p == ' ' || *p == '\t' || *p == '\r'))
    p++;
  if (p < ps->end && (*p == '#' || (*p == '/' && p + 1 < ps->end && p[1] == '/')))
    while (p < ps->end && *p != '\n')
      p++;
  token *t = &ps->tok;
  t->loc = here(ps, p);
  t->text = p;
  if (p == ps->end) {
    t->kind = T_EOF;
    t->len = 0;
    ps->p = p;
    return;
  }
  char c = *p;
  if (c == '\n') {
    t->kind = T_NEWLINE;
    t->len = 1;
    ps->p = p + 1;
    ps->line++;
    ps->line_start = p + 1;
    return;
  }
  if (is_ident_start(c)) {
    t->kind = T_IDENT;
    ps->p = scan_ident(ps, p);
  } else if (c == '%' || c == '@') {
    const char *s = p + 1, *e = s;
    while (e < ps->end && is_ident_char(*e))
      e++;
    bool numeric = e > s;
    for (const char *q = s; q < e; q++)
      numeric = numeric && is_digit(*q);
    if (e == s || (!numeric && !is_ident_start(*s)) || (c == '@' && numeric))
      fail(ps, t->loc, "invalid %s name '%.*s' (names are [A-Za-z_][A-Za-z0-9_.]*%s)",
           c == '%' ? "value" : "function", (int)(e - p > 40 ? 40 : e - p), p,
           c == '%' ? " or digits" : "");
    t->kind = c == '%' ? T_VALUE : T_GLOBAL;
    t->text = s;
    t->len = (size_t)(e - s);
    ps->p = e;
    return;
  } else if (is_digit(c) || c == '-') {
    t->kind = T_NUMBER;
    ps->p = lex_number(ps, p);
  } else if (c == '"') {
    t->kind = T_STRING;
    ps->p = lex_string(ps, p);
    return;
  } else if (strchr("=,:[](){}", c)) {
    t->kind = T_PUNCT;
    ps->p = p + 1;
  } else if (c >= 0x21 && c <= 0x7e) {
    fail(ps, t->loc, "unexpected character '%c'", c);
  } else {
    fail(ps, t->loc, "unexpected byte 0x%02x", (unsigned char)c);
  }
  t->len = (size_t)(ps->p - p);
}

/* ---- token helpers ------------------------------------------------------------------- */

/* How an error names the token it found. */
static const char *describe(const token *t, char *buf, size_t size) {
  switch (t->kind) {
  case T_EOF: return "end of input";
  case T_NEWLINE: return "end of line";
  case T_STRING: return "a string";
  case T_VALUE:
  case T_GLOBAL:
    snprintf(buf, size, "'%c%.*s'", t->kind == T_VALUE ? '%' : '@', (int)(t->len > 40 ? 40 : t->len),
             t->text);
    return buf;
  default: snprintf(buf, size, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->text); return buf;
  }
}

#define FOUND(ps) describe(&(ps)->tok, (char[64]){0}, 64)

static bool is_punct(const parser *ps, char c) {
  return ps->tok.kind == T_PUNCT && ps->tok.text[0] == c;
}

static bool is_word(const parser *ps, const char *w) {
  return ps->tok.kind == T_IDENT && ps->tok.len == strlen(w) &&
         memcmp(ps->tok.text, w, ps->tok.len) == 0;
}

static void expect_punct(parser *ps, char c, const char *context) {
  if (!is_punct(ps, c)) fail(ps, ps->tok.loc, "expected '%c' %s, found %s", c, context, FOUND(ps));
  next(ps);
}

static void expect_word(parser *ps, const char *w, const char *context) {
  if (!is_word(ps, w)) fail(ps, ps->tok.loc, "expected '%s' %s, found %s", w, context, FOUND(ps));
  next(ps);
}

/* A statement ends at the end of its line (or of the input). */
static void expect_eol(parser *ps, const char *context) {
  if (ps->tok.kind == T_EOF) return;
  if (ps->tok.kind != T_NEWLINE)
    fail(ps, ps->tok.loc, "expected end of line %s, found %s", context, FOUND(ps));
  next(ps);
}

static void skip_newlines(parser *ps) {
  while (ps->tok.kind == T_NEWLINE)
    next(ps);
}

static bool token_is_integer(const token *t) {
  if (t->kind != T_NUMBER) return false;
  size_t i = t->text[0] == '-';
  if (i == t->len) return false;
  for (; i < t->len; i++)
    if (!is_digit(t->text[i])) return false;
  return true;
}

/* integer = '-'? digits, within [lo, hi] */
static int64_t parse_int(parser *ps, int64_t lo, int64_t hi, const char *what) {
  token t = ps->tok;
  if (!token_is_integer(&t)) fail(ps, t.loc, "expected %s (an integer), found %s", what, FOUND(ps));
  bool neg = t.text[0] == '-';
  int64_t v = 0;
  for (size_t i = neg; i < t.len; i++) {
    int d = t.text[i] - '0';
    if (v > (INT64_MAX - d) / 10) fail(ps, t.loc, "%s is out of range", what);
    v = v * 10 + d;
  }
  if (neg) v = -v;
  if (v < lo || v > hi)
    fail(ps, t.loc, "%s %lld is out of range [%lld, %lld]", what, (long long)v, (long long)lo,
         (long long)hi);
  next(ps);
  return v;
}

/* double = number | 'inf' | 'nan' (a number token may also be -inf / -nan) */
static double parse_double(parser *ps) {
  token t = ps->tok;
  if (t.kind == T_IDENT && t.len == 3 &&
      (memcmp(t.text, "inf", 3) == 0 || memcmp(t.text, "nan", 3) == 0)) {
    next(ps);
    return t.text[0] == 'i' ? INFINITY : NAN;
  }
  if (t.kind != T_NUMBER) fail(ps, t.loc, "expected a number, found %s", FOUND(ps));
  char buf[128];
  if (t.len >= sizeof buf) fail(ps, t.loc, "number too long");
  memcpy(buf, t.text, t.len);
  buf[t.len] = '\0';
  const char *digits = buf + (buf[0] == '-');
  double v;
  if (strcmp(digits, "inf") == 0)
    v = INFINITY;
  else if (strcmp(digits, "nan") == 0)
    v = NAN;
  else
    v = strtod(digits, NULL);
  next(ps);
  return buf[0] == '-' ? -v : v;
}

/* int_list = '[' (integer (',' integer)*)? ']', at most IR_MAX_RANK entries */
static int parse_int_list(parser *ps, int64_t *out, int64_t lo, int64_t hi, const char *what) {
  expect_punct(ps, '[', "to open the list");
  int n = 0;
  if (!is_punct(ps, ']')) {
    for (;;) {
      if (n == IR_MAX_RANK)
        fail(ps, ps->tok.loc, "too many entries in the list (at most %d)", IR_MAX_RANK);
      out[n++] = parse_int(ps, lo, hi, what);
      if (!is_punct(ps, ',')) break;
      next(ps);
    }
  }
  if (!is_punct(ps, ']')) fail(ps, ps->tok.loc, "expected ',' or ']' in the list, found %s", FOUND(ps));
  next(ps);
  return n;
}

/* type = dtype '[' (dim (',' dim)*)? ']' */
static ir_type parse_type(parser *ps) {
  ir_type t = {0};
  if (ps->tok.kind != T_IDENT)
    fail(ps, ps->tok.loc, "expected a type such as f32[10,2], found %s", FOUND(ps));
  if (!ir_dtype_from_name(ps->tok.text, ps->tok.len, &t.dtype))
    fail(ps, ps->tok.loc, "unknown dtype %s (expected f32, f64, i32, i64 or bool)", FOUND(ps));
  next(ps);
  ir_loc at = ps->tok.loc;
  t.rank = parse_int_list(ps, t.dims, 0, TEXT_MAX_EXTENT, "dimension");
  int64_t numel = 1;
  for (int i = 0; i < t.rank; i++) {
    if (t.dims[i] && numel > TEXT_MAX_EXTENT / t.dims[i]) fail(ps, at, "tensor type is too large");
    numel *= t.dims[i];
  }
  return t;
}

/* ---- symbols --------------------------------------------------------------------------- */

static size_t hash_name(const char *s, size_t len) {
  size_t h = 2166136261u;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static symbol *lookup_slot(parser *ps, const char *key, size_t len) {
  size_t mask = ps->syms_cap - 1;
  for (size_t i = hash_name(key, len) & mask;; i = (i + 1) & mask) {
    symbol *s = &ps->syms[i];
    if (!s->key || (s->len == len && memcmp(s->key, key, len) == 0)) return s;
  }
}

static void define(parser *ps, const token *name, ir_node *node) {
  if ((ps->nsyms + 1) * 2 > ps->syms_cap) {
    symbol *old = ps->syms;
    size_t old_cap = ps->syms_cap;
    size_t cap = old_cap ? old_cap * 2 : 64;
    ps->syms = calloc(cap, sizeof *ps->syms);
    if (!ps->syms) {
      ps->syms = old;
      fail(ps, name->loc, "out of memory");
    }
    ps->syms_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
      if (old[i].key) *lookup_slot(ps, old[i].key, old[i].len) = old[i];
    free(old);
  }
  symbol *s = lookup_slot(ps, name->text, name->len);
  *s = (symbol){name->text, name->len, node, name->loc};
  ps->nsyms++;
}

/* A name about to be defined must be new in its function. */
static void check_new(parser *ps, const token *name) {
  if (!ps->syms_cap) return;
  symbol *s = lookup_slot(ps, name->text, name->len);
  if (s->key)
    fail(ps, name->loc, "redefinition of %%%.*s (first defined at %d:%d)", (int)name->len, name->text,
         s->loc.line, s->loc.col);
}

/* value_use = '%' name, defined earlier in the function */
static ir_node *parse_use(parser *ps, const char *context) {
  if (ps->tok.kind != T_VALUE)
    fail(ps, ps->tok.loc, "expected a value %s, found %s", context, FOUND(ps));
  symbol *s = ps->syms_cap ? lookup_slot(ps, ps->tok.text, ps->tok.len) : NULL;
  if (!s || !s->key)
    fail(ps, ps->tok.loc, "use of undefined value %%%.*s", (int)ps->tok.len, ps->tok.text);
  next(ps);
  return s->node;
}

static bool name_is_numeric(const token *t) { return is_digit(t->text[0]); }

/* ---- grammar ---------------------------------------------------------------------------- */

/* meta = 'meta' key '=' string EOL */
static void parse_meta(parser *ps) {
  next(ps);
  if (ps->tok.kind != T_IDENT)
    fail(ps, ps->tok.loc, "expected a meta key after 'meta', found %s", FOUND(ps));
  token key = ps->tok;
  char *k = ir_strndup(ps->m, key.text, key.len);
  if (ir_module_get_meta(ps->m, k)) fail(ps, key.loc, "duplicate meta key '%s'", k);
  next(ps);
  expect_punct(ps, '=', "after the meta key");
  if (ps->tok.kind != T_STRING)
    fail(ps, ps->tok.loc, "expected a string after 'meta %s =', found %s", k, FOUND(ps));
  char *v = ir_strndup(ps->m, ps->tok.text, ps->tok.len);
  next(ps);
  expect_eol(ps, "after the meta entry");
  ir_module_set_meta(ps->m, k, v);
}

/* arg = '%' name ':' type ('input' | 'param' | 'state') */
static void parse_arg(parser *ps) {
  if (ps->tok.kind != T_VALUE)
    fail(ps, ps->tok.loc, "expected an argument such as %%x: f32[2] input, found %s", FOUND(ps));
  token name = ps->tok;
  if (name_is_numeric(&name))
    fail(ps, name.loc, "argument %%%.*s needs a name, not a number", (int)name.len, name.text);
  check_new(ps, &name);
  next(ps);
  expect_punct(ps, ':', "after the argument name");
  ir_type type = parse_type(ps);
  ir_opcode role;
  if (is_word(ps, "input"))
    role = IR_OP_INPUT;
  else if (is_word(ps, "param"))
    role = IR_OP_PARAM;
  else if (is_word(ps, "state"))
    role = IR_OP_STATE;
  else
    fail(ps, ps->tok.loc, "expected argument role 'input', 'param' or 'state', found %s", FOUND(ps));
  next(ps);
  ir_node *n = ir_func_add_arg(ps->f, role, ir_strndup(ps->m, name.text, name.len), type);
  define(ps, &name, n);
}

/* attrs, by the op's attribute kind:
 *   VALUE   double | '[' double (',' double)* ']'
 *   AXIS    'axis' '=' integer
 *   AXES    'axes' '=' int_list 'keepdims'?
 *   PERM    'perm' '=' int_list
 *   SLICE   'start' '=' int_list 'end' '=' int_list
 *   PADDING 'lo' '=' int_list 'hi' '=' int_list */
static void parse_attrs(parser *ps, ir_opcode op, ir_attrs *a) {
  const int64_t big = TEXT_MAX_EXTENT;
  char where[64];
  snprintf(where, sizeof where, ir_ops[op].arity ? "after the operands of '%s'" : "after '%s'",
           ir_ops[op].name);
  switch (ir_ops[op].attrs) {
  case IR_ATTR_NONE: break;
  case IR_ATTR_VALUE: {
    size_t n = 0;
    if (is_punct(ps, '[')) {
      next(ps);
      for (;;) {
        reserve(ps, (void **)&ps->values, &ps->values_cap, n + 1, sizeof(double));
        ps->values[n++] = parse_double(ps);
        if (!is_punct(ps, ',')) break;
        next(ps);
      }
      expect_punct(ps, ']', "or ',' in the list of values");
    } else {
      reserve(ps, (void **)&ps->values, &ps->values_cap, 1, sizeof(double));
      ps->values[n++] = parse_double(ps);
    }
    a->nvalues = (int64_t)n;
    a->values = ps->values;
    break;
  }
  case IR_ATTR_AXIS:
    expect_word(ps, "axis", where);
    expect_punct(ps, '=', "after 'axis'");
    a->axis = parse_int(ps, -big, big, "axis");
    break;
  case IR_ATTR_AXES:
    expect_word(ps, "axes", where);
    expect_punct(ps, '=', "after 'axes'");
    a->naxes = parse_int_list(ps, a->axes, -big, big, "axis");
    if (is_word(ps, "keepdims")) {
      a->keepdims = true;
      next(ps);
    }
    break;
  case IR_ATTR_PERM:
    expect_word(ps, "perm", where);
    expect_punct(ps, '=', "after 'perm'");
    a->naxes = parse_int_list(ps, a->axes, -big, big, "axis");
    break;
  case IR_ATTR_SLICE:
  case IR_ATTR_PADDING: {
    bool slice = ir_ops[op].attrs == IR_ATTR_SLICE;
    const char *lo = slice ? "start" : "lo", *hi = slice ? "end" : "hi";
    expect_word(ps, lo, where);
    expect_punct(ps, '=', slice ? "after 'start'" : "after 'lo'");
    int nlo = parse_int_list(ps, a->lo, -big, big, "bound");
    ir_loc at = ps->tok.loc;
    expect_word(ps, hi, "after the first list");
    expect_punct(ps, '=', slice ? "after 'end'" : "after 'hi'");
    int nhi = parse_int_list(ps, a->hi, -big, big, "bound");
    if (nlo != nhi) fail(ps, at, "'%s' has %d entries but '%s' has %d", lo, nlo, hi, nhi);
    a->nbounds = nlo;
    break;
  }
  }
}

/* instr = '%' name '=' op operands? attrs ':' type ('kernel' '(' int ')')? ('loc' '(' int ':' int ')')?
 * EOL operands = '%' name (',' '%' name)* */
static void parse_instr(parser *ps) {
  token name = ps->tok;
  check_new(ps, &name);
  next(ps);
  expect_punct(ps, '=', "after the value name");
  token optok = ps->tok;
  ir_opcode op;
  if (optok.kind != T_IDENT) fail(ps, optok.loc, "expected an op name, found %s", FOUND(ps));
  if (!ir_op_from_name(optok.text, optok.len, &op)) fail(ps, optok.loc, "unknown op %s", FOUND(ps));
  const ir_op_info *info = &ir_ops[op];
  if (info->kind == IR_KIND_ARG)
    fail(ps, optok.loc, "'%s' is an argument role, not an op; declare arguments in the func line",
         info->name);
  next(ps);

  size_t nops = 0;
  if (info->arity != 0) {
    for (;;) {
      ir_node *x = parse_use(ps, "operand");
      reserve(ps, (void **)&ps->operands, &ps->operands_cap, nops + 1, sizeof *ps->operands);
      ps->operands[nops++] = x;
      if (!is_punct(ps, ',')) break;
      next(ps);
    }
    if (!is_punct(ps, ':') && ps->tok.kind != T_IDENT)
      fail(ps, ps->tok.loc, "expected ',' or %s after operand, found %s",
           info->attrs == IR_ATTR_NONE ? "':'" : "an attribute", FOUND(ps));
  } else if (ps->tok.kind == T_VALUE) {
    fail(ps, ps->tok.loc, "'%s' takes no operands", info->name);
  }
  if (info->arity >= 0 && nops != (size_t)info->arity)
    fail(ps, optok.loc, "'%s' takes %d operand%s, found %zu", info->name, info->arity,
         info->arity == 1 ? "" : "s", nops);

  ir_attrs attrs = {0};
  parse_attrs(ps, op, &attrs);
  if (!is_punct(ps, ':')) fail(ps, ps->tok.loc, "expected ':' and the result type, found %s", FOUND(ps));
  next(ps);
  ir_type type = parse_type(ps);
  int kernel = 0;
  ir_loc loc = {0, 0};
  if (is_word(ps, "kernel")) {
    next(ps);
    expect_punct(ps, '(', "after 'kernel'");
    kernel = (int)parse_int(ps, 0, INT_MAX, "kernel number");
    expect_punct(ps, ')', "after the kernel number");
  }
  if (is_word(ps, "loc")) {
    next(ps);
    expect_punct(ps, '(', "after 'loc'");
    loc.line = (int)parse_int(ps, 0, INT_MAX, "line");
    expect_punct(ps, ':', "between line and column");
    loc.col = (int)parse_int(ps, 0, INT_MAX, "column");
    expect_punct(ps, ')', "after the column");
  }
  expect_eol(ps, "after the instruction");

  ir_error e = {0};
  ir_node *n = ir_build(ps->f, op, ps->operands, (int)nops, &attrs, &type, &e);
  if (!n) fail(ps, optok.loc, "%s", e.msg);
  int64_t numel = 1;
  for (int i = 0; i < n->type.rank; i++) {
    if (n->type.dims[i] < 0 || (n->type.dims[i] && numel > TEXT_MAX_EXTENT / n->type.dims[i]))
      fail(ps, optok.loc, "'%s' produces a tensor that is too large", info->name);
    numel *= n->type.dims[i];
  }
  n->name = name_is_numeric(&name) ? NULL : ir_strndup(ps->m, name.text, name.len);
  n->kernel = kernel;
  n->loc = loc;
  define(ps, &name, n);
}

/* output = 'output' key '=' '%' name EOL */
static void parse_output(parser *ps) {
  next(ps);
  if (ps->tok.kind != T_IDENT)
    fail(ps, ps->tok.loc, "expected an output name after 'output', found %s", FOUND(ps));
  token name = ps->tok;
  char *s = ir_strndup(ps->m, name.text, name.len);
  if (ir_func_find_output(ps->f, s)) fail(ps, name.loc, "duplicate output '%s'", s);
  next(ps);
  expect_punct(ps, '=', "after the output name");
  ir_node *v = parse_use(ps, "after 'output NAME ='");
  expect_eol(ps, "after the output");
  ir_func_add_output(ps->f, s, v);
}

/* update = 'update' '%' param '=' '%' name EOL */
static void parse_update(parser *ps) {
  next(ps);
  token tt = ps->tok;
  ir_node *target = parse_use(ps, "after 'update'");
  if (target->op != IR_OP_PARAM && target->op != IR_OP_STATE)
    fail(ps, tt.loc, "update target %%%.*s is not a param or state argument", (int)tt.len, tt.text);
  for (int i = 0; i < ps->f->nupdates; i++)
    if (ps->f->updates[i].target == target)
      fail(ps, tt.loc, "%%%.*s is updated twice", (int)tt.len, tt.text);
  expect_punct(ps, '=', "after the update target");
  token vt = ps->tok;
  ir_node *v = parse_use(ps, "after 'update %target ='");
  if (!ir_type_equal(&target->type, &v->type)) {
    char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
    fail(ps, vt.loc, "update of %%%.*s (%s) with a value of type %s", (int)tt.len, tt.text,
         ir_type_str(&target->type, a, sizeof a), ir_type_str(&v->type, b, sizeof b));
  }
  expect_eol(ps, "after the update");
  ir_func_add_update(ps->f, target, v);
}

/* func = 'func' '@' name '(' (arg (',' arg)*)? ')' '{' EOL stmt* '}' EOL
 * stmt = instr | output | update | EOL
 * (the argument list may break across lines) */
static void parse_func(parser *ps) {
  next(ps);
  if (ps->tok.kind != T_GLOBAL)
    fail(ps, ps->tok.loc, "expected a function name such as @forward, found %s", FOUND(ps));
  char *name = ir_strndup(ps->m, ps->tok.text, ps->tok.len);
  if (ir_module_find_func(ps->m, name)) fail(ps, ps->tok.loc, "redefinition of function @%s", name);
  ir_loc func_loc = ps->tok.loc;
  ps->f = ir_func_create(ps->m, name);
  ps->nsyms = 0;
  if (ps->syms) memset(ps->syms, 0, ps->syms_cap * sizeof *ps->syms);
  next(ps);
  expect_punct(ps, '(', "after the function name");
  skip_newlines(ps);
  if (!is_punct(ps, ')')) {
    for (;;) {
      parse_arg(ps);
      skip_newlines(ps);
      if (!is_punct(ps, ',')) break;
      next(ps);
      skip_newlines(ps);
    }
  }
  if (!is_punct(ps, ')'))
    fail(ps, ps->tok.loc, "expected ',' or ')' after argument, found %s", FOUND(ps));
  next(ps);
  expect_punct(ps, '{', "to open the function body");
  expect_eol(ps, "after '{'");
  for (;;) {
    if (ps->tok.kind == T_NEWLINE)
      next(ps);
    else if (ps->tok.kind == T_VALUE)
      parse_instr(ps);
    else if (is_word(ps, "output"))
      parse_output(ps);
    else if (is_word(ps, "update"))
      parse_update(ps);
    else if (is_punct(ps, '}'))
      break;
    else if (ps->tok.kind == T_EOF)
      fail(ps, ps->tok.loc, "end of input inside @%s (opened at %d:%d): missing '}'", name,
           func_loc.line, func_loc.col);
    else
      fail(ps, ps->tok.loc, "expected an instruction, 'output', 'update' or '}', found %s", FOUND(ps));
  }
  next(ps);
  expect_eol(ps, "after '}'");
  ps->f = NULL;
}

/* module = (meta | func | EOL)* */
static void parse_module(parser *ps) {
  next(ps);
  for (;;) {
    if (ps->tok.kind == T_EOF) return;
    if (ps->tok.kind == T_NEWLINE)
      next(ps);
    else if (is_word(ps, "meta"))
      parse_meta(ps);
    else if (is_word(ps, "func"))
      parse_func(ps);
    else
      fail(ps, ps->tok.loc, "expected 'meta' or 'func', found %s", FOUND(ps));
  }
}

ir_module *ir_parse(const char *text, size_t len, ir_error *err) {
  ir_error discard;
  if (!err) err = &discard;
  /* The parser's state lives on the heap: after longjmp, locals changed since setjmp
   * would be indeterminate, but memory reached through an unchanged pointer is not. */
  parser *ps = calloc(1, sizeof *ps);
  if (!ps) {
    ir_error_set(err, (ir_loc){0, 0}, "out of memory");
    return NULL;
  }
  ps->p = ps->line_start = text ? text : "";
  ps->end = ps->p + (text ? len : 0);
  ps->line = 1;
  ps->err = err;
  ps->m = ir_module_create();
  ir_module *m = NULL;
  if (setjmp(ps->fail) == 0) {
    parse_module(ps);
    m = ps->m;
  } else {
    ir_module_destroy(ps->m);
  }
  free(ps->syms);
  free(ps->operands);
  free(ps->values);
  free(ps->sbuf);
  free(ps);
  return m;
}

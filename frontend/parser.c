/* The parser: tokens into a program of statements (fe_program), by recursive descent.
 *
 * A syntax error is reported once, the statement is marked broken, and parsing carries
 * on at the next line (or the '}' closing the function being parsed), so one run shows
 * every independent mistake. Each rule's grammar is above its function; the whole
 * grammar is in docs/language.md. */
#include <string.h>

#include "fe_impl.h"

/* Deeper nesting than this is not a model anyone writes; it would only exhaust the stack. */
#define MAX_DEPTH 200

typedef struct {
  fe_ctx *c;
  const fe_token *t;
  int n, pos;
  bool failed; /* the current statement had an error: stay quiet until it is skipped */
  int depth;
  int in_def; /* parsing a function body */
  bool synced; /* the broken statement was skipped already (a function's recovery) */
} parser;

static const fe_token *cur(const parser *p) { return &p->t[p->pos]; }
static const fe_token *ahead(const parser *p, int k) {
  return &p->t[p->pos + k < p->n ? p->pos + k : p->n - 1];
}
static bool at(const parser *p, fe_tok_kind k) { return cur(p)->kind == k; }
static const fe_token *next(parser *p) {
  const fe_token *t = cur(p);
  if (p->pos < p->n - 1) p->pos++;
  return t;
}
static bool accept(parser *p, fe_tok_kind k) {
  if (!at(p, k)) return false;
  next(p);
  return true;
}
static bool at_ident(const parser *p, const char *word) {
  return at(p, TK_IDENT) && strcmp(cur(p)->text, word) == 0;
}

static void describe(const fe_token *t, char *buf, size_t size) {
  if (t->kind == TK_IDENT || t->kind == TK_NUMBER)
    snprintf(buf, size, "'%s'", t->text);
  else
    snprintf(buf, size, "%s", fe_tok_name(t->kind));
}

/* Reports "expected WHAT, found X" at the current token, once per statement. A bad token
 * was reported by the lexer already, so it only fails the statement. */
static void syntax_error(parser *p, const char *what) {
  if (p->failed) return;
  p->failed = true;
  const fe_token *t = cur(p);
  if (t->kind == TK_BAD) return;
  char found[80];
  describe(t, found, sizeof found);
  fe_error(p->c, t->span, "expected %s, found %s", what, found);
}

static bool expect(parser *p, fe_tok_kind k, const char *what) {
  if (accept(p, k)) return true;
  syntax_error(p, what);
  return false;
}

/* Closing bracket of an opened one; the note points back at the opener. */
static bool expect_close(parser *p, fe_tok_kind k, const fe_token *open) {
  if (accept(p, k)) return true;
  bool quiet = p->failed;
  syntax_error(p, fe_tok_name(k));
  if (!quiet && cur(p)->kind != TK_BAD) fe_note(p->c, open->span, "to match this %s", fe_tok_name(open->kind));
  return false;
}

static fe_expr *new_expr(parser *p, fe_expr_kind k, fe_span span) {
  fe_expr *e = fe_alloc(&p->c->arena, sizeof *e);
  e->kind = k;
  e->span = span;
  e->op_span = span;
  return e;
}

/* A growable array in the arena (old storage abandoned, as everything dies together). */
static void *grow(parser *p, void *items, int n, int *cap, size_t elem) {
  if (n < *cap) return items;
  int ncap = *cap ? *cap * 2 : 4;
  void *fresh = fe_alloc(&p->c->arena, (size_t)ncap * elem);
  if (n) memcpy(fresh, items, (size_t)n * elem);
  *cap = ncap;
  return fresh;
}

static fe_expr *parse_expr(parser *p);

/* value = expr [".." expr]     (a range of columns, in data sources) */
static fe_expr *parse_value(parser *p) {
  fe_expr *lo = parse_expr(p);
  if (!lo || !at(p, TK_DOTDOT)) return lo;
  const fe_token *op = next(p);
  fe_expr *hi = parse_expr(p);
  if (!hi) return NULL;
  fe_expr *r = new_expr(p, EX_RANGE, fe_span_join(lo->span, hi->span));
  r->op_span = op->span;
  r->lhs = lo;
  r->rhs = hi;
  return r;
}

/* args = [arg {"," arg} [","]] ;  arg = [IDENT "="] value  (up to the closing ')') */
static bool parse_args(parser *p, fe_expr *call, const fe_token *open) {
  int cap = 0;
  bool seen_keyword = false;
  while (!at(p, TK_RPAREN)) {
    fe_arg a = {0};
    if (at(p, TK_IDENT) && ahead(p, 1)->kind == TK_ASSIGN) {
      a.name = cur(p)->text;
      a.name_span = cur(p)->span;
      next(p);
      next(p);
      seen_keyword = true;
    } else if (seen_keyword && !p->failed) {
      fe_error(p->c, cur(p)->span, "positional argument after a keyword argument");
      p->failed = true;
      return false;
    }
    a.value = parse_value(p);
    if (!a.value) return false;
    call->args = grow(p, call->args, call->nargs, &cap, sizeof *call->args);
    call->args[call->nargs++] = a;
    if (!accept(p, TK_COMMA)) break;
  }
  if (!expect_close(p, TK_RPAREN, open)) return false;
  return true;
}

/* list = "[" [value {"," value} [","]] "]" */
static fe_expr *parse_list(parser *p) {
  const fe_token *open = next(p);
  fe_expr *e = new_expr(p, EX_LIST, open->span);
  int cap = 0;
  while (!at(p, TK_RBRACKET)) {
    fe_expr *item = parse_value(p);
    if (!item) return NULL;
    e->args = grow(p, e->args, e->nargs, &cap, sizeof *e->args);
    e->args[e->nargs++] = (fe_arg){.value = item};
    if (!accept(p, TK_COMMA)) break;
  }
  const fe_token *close = cur(p);
  if (!expect_close(p, TK_RBRACKET, open)) return NULL;
  e->span = fe_span_join(open->span, close->span);
  return e;
}

/* primary = NUMBER | STRING | IDENT ["(" args ")"] | "(" expr ")" | list */
static fe_expr *parse_primary(parser *p) {
  const fe_token *t = cur(p);
  switch (t->kind) {
  case TK_NUMBER: {
    next(p);
    fe_expr *e = new_expr(p, EX_NUMBER, t->span);
    e->num = t->num;
    e->is_int = t->is_int;
    e->text = t->text;
    return e;
  }
  case TK_STRING: {
    next(p);
    fe_expr *e = new_expr(p, EX_STRING, t->span);
    e->text = t->text;
    return e;
  }
  case TK_IDENT: {
    next(p);
    if (!at(p, TK_LPAREN)) {
      fe_expr *e = new_expr(p, EX_NAME, t->span);
      e->text = t->text;
      return e;
    }
    const fe_token *open = next(p);
    fe_expr *e = new_expr(p, EX_CALL, t->span);
    e->text = t->text;
    e->op_span = t->span;
    if (!parse_args(p, e, open)) return NULL;
    e->span = fe_span_join(t->span, p->t[p->pos - 1].span); /* through the ')' */
    return e;
  }
  case TK_LPAREN: {
    const fe_token *open = next(p);
    fe_expr *inner = parse_expr(p);
    if (!inner) return NULL;
    const fe_token *close = cur(p);
    if (!expect_close(p, TK_RPAREN, open)) return NULL;
    /* Keep the inner node, but let its span cover the parentheses for carets. */
    inner->span = fe_span_join(inner->span, fe_span_join(open->span, close->span));
    return inner;
  }
  case TK_LBRACKET:
    return parse_list(p);
  default:
    syntax_error(p, "an expression");
    return NULL;
  }
}

static fe_expr *binary(parser *p, const fe_token *op, fe_expr *lhs, fe_expr *rhs) {
  fe_expr *e = new_expr(p, EX_BINARY, fe_span_join(lhs->span, rhs->span));
  e->op_span = op->span;
  e->op = op->text[0];
  e->lhs = lhs;
  e->rhs = rhs;
  return e;
}

static fe_expr *parse_unary(parser *p);

/* power = primary ["^" unary]     (right-associative; -x^2 is -(x^2)) */
static fe_expr *parse_power(parser *p) {
  fe_expr *base = parse_primary(p);
  if (!base || !at(p, TK_CARET)) return base;
  const fe_token *op = next(p);
  fe_expr *exp = parse_unary(p);
  return exp ? binary(p, op, base, exp) : NULL;
}

/* unary = "-" unary | power */
static fe_expr *parse_unary(parser *p) {
  if (++p->depth > MAX_DEPTH) {
    if (!p->failed) fe_error(p->c, cur(p)->span, "expression nested too deeply");
    p->failed = true;
    p->depth--;
    return NULL;
  }
  fe_expr *e;
  if (at(p, TK_MINUS)) {
    const fe_token *op = next(p);
    fe_expr *x = parse_unary(p);
    e = NULL;
    if (x) {
      e = new_expr(p, EX_UNARY, fe_span_join(op->span, x->span));
      e->op_span = op->span;
      e->op = '-';
      e->lhs = x;
    }
  } else {
    e = parse_power(p);
  }
  p->depth--;
  return e;
}

/* term = unary {("*" | "/" | "@") unary} */
static fe_expr *parse_term(parser *p) {
  fe_expr *e = parse_unary(p);
  while (e && (at(p, TK_STAR) || at(p, TK_SLASH) || at(p, TK_AT))) {
    const fe_token *op = next(p);
    fe_expr *rhs = parse_unary(p);
    e = rhs ? binary(p, op, e, rhs) : NULL;
  }
  return e;
}

/* expr = term {("+" | "-") term} */
static fe_expr *parse_expr(parser *p) {
  fe_expr *e = parse_term(p);
  while (e && (at(p, TK_PLUS) || at(p, TK_MINUS))) {
    const fe_token *op = next(p);
    fe_expr *rhs = parse_term(p);
    e = rhs ? binary(p, op, e, rhs) : NULL;
  }
  return e;
}

/* ---- statements ----------------------------------------------------------------------- */

static bool parse_name(parser *p, fe_stmt *st, const char *what) {
  if (!at(p, TK_IDENT)) {
    syntax_error(p, what);
    return false;
  }
  st->name = cur(p)->text;
  st->name_span = cur(p)->span;
  next(p);
  return true;
}

/* type = IDENT ["[" [expr {"," expr}] "]"]      f32[batch, 2], i32[batch], f32 */
static bool parse_type(parser *p, fe_type_expr *ty) {
  if (!at(p, TK_IDENT)) {
    syntax_error(p, "a type such as f32[batch, 2]");
    return false;
  }
  const fe_token *dt = next(p);
  ty->dtype = dt->text;
  ty->dtype_span = dt->span;
  ty->span = dt->span;
  if (!at(p, TK_LBRACKET)) return true;
  const fe_token *open = next(p);
  int cap = 0;
  while (!at(p, TK_RBRACKET)) {
    fe_expr *d = parse_expr(p);
    if (!d) return false;
    ty->dims = grow(p, ty->dims, ty->ndims, &cap, sizeof *ty->dims);
    ty->dims[ty->ndims++] = d;
    if (!accept(p, TK_COMMA)) break;
  }
  const fe_token *close = cur(p);
  if (!expect_close(p, TK_RBRACKET, open)) return false;
  ty->span = fe_span_join(dt->span, close->span);
  return true;
}

/* callish = IDENT ["(" args ")"]      (initialisers, optimisers, data sources) */
static fe_expr *parse_callish(parser *p, const char *what) {
  if (!at(p, TK_IDENT)) {
    syntax_error(p, what);
    return NULL;
  }
  return parse_primary(p);
}

static fe_stmt *parse_stmt(parser *p);
static bool ends_body(const parser *p);

/* def = "def" IDENT "(" [IDENT {"," IDENT}] ")" ("{" {stmt} "}" | "=" expr) */
static bool parse_def(parser *p, fe_stmt *st) {
  if (!parse_name(p, st, "a function name")) return false;
  const fe_token *open = cur(p);
  if (!expect(p, TK_LPAREN, "'(' and the function's parameters")) return false;
  int cap = 0;
  while (!at(p, TK_RPAREN)) {
    if (!at(p, TK_IDENT)) {
      syntax_error(p, "a parameter name");
      return false;
    }
    if (st->nparams == cap) {
      int old = cap;
      st->params = grow(p, st->params, st->nparams, &cap, sizeof *st->params);
      st->param_spans = grow(p, st->param_spans, st->nparams, &old, sizeof *st->param_spans);
    }
    st->params[st->nparams] = cur(p)->text;
    st->param_spans[st->nparams++] = cur(p)->span;
    next(p);
    if (!accept(p, TK_COMMA)) break;
  }
  if (!expect_close(p, TK_RPAREN, open)) return false;
  if (at(p, TK_ASSIGN)) { /* def square(x) = x * x */
    const fe_token *eq = next(p);
    fe_stmt *ret = fe_alloc(&p->c->arena, sizeof *ret);
    ret->kind = ST_RETURN;
    ret->span = eq->span;
    ret->value = parse_expr(p);
    if (!ret->value) return false;
    st->body = fe_alloc(&p->c->arena, sizeof *st->body);
    st->body[st->nbody++] = ret;
    return true;
  }
  const fe_token *brace = cur(p);
  if (!expect(p, TK_LBRACE, "'{' to start the function body (or '=' and an expression)"))
    return false;
  int bcap = 0;
  p->in_def++;
  while (!at(p, TK_RBRACE) && !at(p, TK_EOF)) {
    if (ends_body(p)) break; /* a forgotten '}': the file goes on with top-level statements */
    fe_stmt *s = parse_stmt(p);
    if (s) {
      st->body = grow(p, st->body, st->nbody, &bcap, sizeof *st->body);
      st->body[st->nbody++] = s;
    }
  }
  p->in_def--;
  if (!at(p, TK_RBRACE)) {
    if (at(p, TK_EOF))
      fe_error(p->c, cur(p)->span, "expected '}' at end of file");
    else
      fe_error(p->c, cur(p)->span, "expected '}' to end the function before '%s'", cur(p)->text);
    fe_note(p->c, brace->span, "to match this '{'");
    p->failed = true;
    return false;
  }
  next(p); /* '}' */
  return true;
}

/* Keywords that open a statement, and the kind each gives. */
static const struct {
  const char *word;
  fe_stmt_kind kind;
} keywords[] = {
    {"model", ST_MODEL},   {"input", ST_INPUT},         {"label", ST_LABEL},
    {"param", ST_PARAM},   {"output", ST_OUTPUT},       {"loss", ST_LOSS},
    {"optimizer", ST_OPTIMIZER}, {"train", ST_TRAIN},   {"data", ST_DATA},
    {"def", ST_DEF},       {"return", ST_RETURN},
};

/* Whether the current token starts a statement that only the top level has: inside a
 * function body it means the body's '}' was forgotten. */
static bool ends_body(const parser *p) {
  static const char *const top_only[] = {"model", "input", "label", "output", "loss",
                                         "optimizer", "train", "data", "def"};
  if (!at(p, TK_IDENT) || ahead(p, 1)->kind == TK_ASSIGN) return false;
  for (size_t i = 0; i < sizeof top_only / sizeof top_only[0]; i++)
    if (strcmp(cur(p)->text, top_only[i]) == 0) return true;
  return false;
}

/* Skips the rest of a broken statement: up to its end of line, or to the '}' that closes
 * the function being parsed. */
static void synchronize(parser *p) {
  while (!at(p, TK_EOF) && !at(p, TK_NEWLINE) && !(p->in_def && at(p, TK_RBRACE))) next(p);
  accept(p, TK_NEWLINE);
}

/* After a broken function definition: when its header was broken, skips the header's
 * line and, if that opened a body, the body too (up to its '}', or a statement only the
 * top level has), so the body's lines are not read as top-level statements. A body
 * whose '}' is missing has stopped before the next top-level statement already. */
static void recover_def(parser *p, int start) {
  p->synced = true;
  if (at(p, TK_EOF) || (ends_body(p) && p->t[p->pos - 1].kind == TK_NEWLINE)) return;
  bool brace = false;
  for (int i = start; i < p->pos; i++) brace = brace || p->t[i].kind == TK_LBRACE;
  while (!at(p, TK_EOF) && !at(p, TK_NEWLINE)) {
    brace = brace || at(p, TK_LBRACE);
    next(p);
  }
  accept(p, TK_NEWLINE);
  while (brace && !at(p, TK_EOF) && !at(p, TK_RBRACE) && !ends_body(p)) {
    while (!at(p, TK_EOF) && !at(p, TK_NEWLINE) && !at(p, TK_RBRACE)) next(p);
    accept(p, TK_NEWLINE);
  }
  if (brace && accept(p, TK_RBRACE)) accept(p, TK_NEWLINE);
}

/* stmt = keyword-statement | IDENT "=" expr   (see docs/language.md), then end of line */
static fe_stmt *parse_stmt(parser *p) {
  p->failed = false;
  p->depth = 0;
  fe_stmt *st = fe_alloc(&p->c->arena, sizeof *st);
  st->span = cur(p)->span;
  bool ok = true;
  int kw = -1;
  if (at(p, TK_IDENT))
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
      if (strcmp(cur(p)->text, keywords[i].word) == 0) kw = (int)i;
  /* `loss = expr` reads as naturally as `loss expr`: take both. Other keywords cannot
   * name values. */
  if (kw >= 0 && ahead(p, 1)->kind == TK_ASSIGN && !at_ident(p, "loss") &&
      !at_ident(p, "output") && !at_ident(p, "optimizer") && !at_ident(p, "data")) {
    fe_error(p->c, cur(p)->span, "'%s' is a keyword and cannot name a value", cur(p)->text);
    p->failed = true;
    ok = false;
  } else if (kw >= 0) {
    st->kind = keywords[kw].kind;
    next(p);
    if (st->kind == ST_OUTPUT || st->kind == ST_LOSS || st->kind == ST_OPTIMIZER ||
        st->kind == ST_DATA)
      accept(p, TK_ASSIGN);
    switch (st->kind) {
    case ST_MODEL:
      ok = parse_name(p, st, "the model's name");
      break;
    case ST_INPUT:
    case ST_LABEL:
    case ST_PARAM:
      ok = parse_name(p, st, "a name") && expect(p, TK_COLON, "':' and a type") &&
           parse_type(p, &st->type);
      if (ok && st->kind == ST_PARAM) {
        ok = expect(p, TK_ASSIGN, "'=' and an initialiser (e.g. zeros, normal(0, 0.01))") &&
             (st->value = parse_callish(p, "an initialiser such as zeros or normal(0, 0.01)"));
      }
      break;
    case ST_OUTPUT:
    case ST_LOSS:
    case ST_RETURN:
      ok = (st->value = parse_expr(p)) != NULL;
      break;
    case ST_OPTIMIZER:
      ok = (st->value = parse_callish(p, "an optimiser such as sgd(lr = 0.1) or adam(lr = 1e-3)")) != NULL;
      break;
    case ST_DATA:
      ok = (st->value = parse_callish(p, "a data source such as csv(\"file.csv\", ...)")) != NULL;
      break;
    case ST_TRAIN: {
      int cap = 0;
      do {
        fe_arg a = {0};
        if (!at(p, TK_IDENT)) {
          syntax_error(p, "a setting such as epochs = 10");
          ok = false;
          break;
        }
        a.name = cur(p)->text;
        a.name_span = cur(p)->span;
        next(p);
        if (!(ok = expect(p, TK_ASSIGN, "'=' and a value"))) break;
        if (!(a.value = parse_value(p))) {
          ok = false;
          break;
        }
        st->settings = grow(p, st->settings, st->nsettings, &cap, sizeof *st->settings);
        st->settings[st->nsettings++] = a;
      } while (accept(p, TK_COMMA));
      break;
    }
    case ST_DEF:
      if (p->in_def) {
        fe_error(p->c, st->span, "functions cannot be defined inside functions");
        p->failed = true;
        ok = false;
      } else {
        int start = p->pos;
        ok = parse_def(p, st);
        if (!ok) recover_def(p, start);
        p->failed = !ok; /* errors inside the body belong to the body's statements */
      }
      break;
    case ST_LET:
      break;
    }
  } else if (at(p, TK_IDENT) && ahead(p, 1)->kind == TK_ASSIGN) {
    st->kind = ST_LET;
    st->name = cur(p)->text;
    st->name_span = cur(p)->span;
    next(p);
    next(p);
    ok = (st->value = parse_expr(p)) != NULL;
  } else {
    if (at(p, TK_IDENT)) {
      const char *words[sizeof keywords / sizeof keywords[0]];
      for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) words[i] = keywords[i].word;
      const char *close = fe_closest(cur(p)->text, words, (int)(sizeof words / sizeof words[0]));
      if (close) {
        fe_error(p->c, cur(p)->span, "unknown statement '%s'; did you mean '%s'?", cur(p)->text, close);
        p->failed = true;
      }
    }
    syntax_error(p, "a statement (a keyword such as input, param, loss, or NAME = expression)");
    ok = false;
  }
  if (ok && !at(p, TK_NEWLINE) && !at(p, TK_EOF) && !(p->in_def && at(p, TK_RBRACE))) {
    syntax_error(p, "end of line");
    ok = false;
  }
  st->broken = !ok || p->failed;
  if (!p->synced) synchronize(p);
  p->synced = false;
  return st;
}

fe_program *fe_parse(fe_ctx *c, const fe_token *toks, int ntoks) {
  parser p = {.c = c, .t = toks, .n = ntoks};
  fe_program *prog = fe_alloc(&c->arena, sizeof *prog);
  int cap = 0;
  accept(&p, TK_NEWLINE);
  while (!at(&p, TK_EOF)) {
    if (at(&p, TK_RBRACE)) {
      fe_error(c, cur(&p)->span, "'}' without a function to close");
      next(&p);
      synchronize(&p);
      continue;
    }
    fe_stmt *st = parse_stmt(&p);
    prog->stmts = grow(&p, prog->stmts, prog->nstmts, &cap, sizeof *prog->stmts);
    prog->stmts[prog->nstmts++] = st;
  }
  return prog;
}

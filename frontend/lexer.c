/* The lexer: model text into tokens, with positions.
 *
 * Newlines end statements, so they are tokens; a second step then drops the newlines
 * where a statement obviously goes on (inside brackets after a comma, an opening bracket
 * or an operator, or before a closing bracket), which lets long calls and lists span
 * lines while an unclosed '(' still ends at its line instead of swallowing the file. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fe_impl.h"

typedef struct {
  fe_ctx *c;
  const char *src;
  size_t len, pos;
  int line, col;
  fe_token *toks;
  int n, cap;
} lexer;

const char *fe_tok_name(fe_tok_kind k) {
  switch (k) {
  case TK_EOF: return "end of file";
  case TK_NEWLINE: return "end of line";
  case TK_IDENT: return "a name";
  case TK_NUMBER: return "a number";
  case TK_STRING: return "a string";
  case TK_LPAREN: return "'('";
  case TK_RPAREN: return "')'";
  case TK_LBRACKET: return "'['";
  case TK_RBRACKET: return "']'";
  case TK_LBRACE: return "'{'";
  case TK_RBRACE: return "'}'";
  case TK_COMMA: return "','";
  case TK_COLON: return "':'";
  case TK_ASSIGN: return "'='";
  case TK_DOTDOT: return "'..'";
  case TK_PLUS: return "'+'";
  case TK_MINUS: return "'-'";
  case TK_STAR: return "'*'";
  case TK_SLASH: return "'/'";
  case TK_CARET: return "'^'";
  case TK_AT: return "'@'";
  case TK_BAD: return "a malformed token";
  }
  return "?";
}

static int peek(const lexer *l, size_t ahead) {
  return l->pos + ahead < l->len ? (unsigned char)l->src[l->pos + ahead] : -1;
}

static void advance(lexer *l) {
  if (l->src[l->pos] == '\n') {
    l->line++;
    l->col = 1;
  } else {
    l->col++;
  }
  l->pos++;
}

static fe_token *push(lexer *l, fe_tok_kind k, int line, int col, size_t start) {
  if (l->n == l->cap) {
    int ncap = l->cap ? l->cap * 2 : 256;
    fe_token *t = fe_alloc(&l->c->arena, (size_t)ncap * sizeof *t);
    if (l->n) memcpy(t, l->toks, (size_t)l->n * sizeof *t);
    l->toks = t;
    l->cap = ncap;
  }
  fe_token *t = &l->toks[l->n++];
  *t = (fe_token){.kind = k,
                  .span = {line, col, l->line, l->col},
                  .text = fe_strndup(&l->c->arena, l->src + start, l->pos - start)};
  return t;
}

static bool is_ident_start(int ch) { return ch == '_' || (ch >= 0 && ch < 128 && isalpha(ch)); }
static bool is_ident_char(int ch) { return ch == '_' || (ch >= 0 && ch < 128 && isalnum(ch)); }

/* number = digits ["." digits] [("e"|"E") ["+"|"-"] digits]. The scan takes every
 * character that could continue a number (so "1.2.3" and "2x" are one bad token, not a
 * number followed by a surprise) but stops at "..", the range operator. */
static void lex_number(lexer *l) {
  int line = l->line, col = l->col;
  size_t start = l->pos;
  while (true) {
    int ch = peek(l, 0);
    if (ch == '.' && peek(l, 1) == '.') break;
    if ((ch == '+' || ch == '-') && l->pos > start) {
      /* A sign belongs to the number only right after the 'e' of "1.5e". */
      char prev = l->src[l->pos - 1];
      bool mantissa = true;
      for (size_t i = start; i + 1 < l->pos; i++)
        mantissa = mantissa && (isdigit((unsigned char)l->src[i]) || l->src[i] == '.');
      if ((prev == 'e' || prev == 'E') && mantissa) {
        advance(l);
        continue;
      }
      break;
    }
    if (!(is_ident_char(ch) || ch == '.')) break;
    advance(l);
  }
  fe_token *t = push(l, TK_NUMBER, line, col, start);
  const char *text = t->text;
  size_t n = strlen(text);
  /* strtod also takes hex, "inf" and "nan"; the language only has decimal numbers. */
  bool decimal = strspn(text, "0123456789.eE+-") == n;
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (*end != '\0' || !decimal || text[n - 1] == '.') {
    fe_error(l->c, t->span, "invalid number '%s'", text);
    t->kind = TK_BAD;
    return;
  }
  if (errno == ERANGE && fabs(v) > 1) {
    fe_error(l->c, t->span, "number '%s' is too large", text);
    t->kind = TK_BAD;
    return;
  }
  t->num = v;
  t->is_int = strspn(text, "0123456789") == n;
}

/* string = '"' { char | '\' ('"' | '\' | 'n' | 't') } '"', on one line. */
static void lex_string(lexer *l) {
  int line = l->line, col = l->col;
  size_t start = l->pos;
  size_t end = start + 1;
  while (end < l->len && l->src[end] != '"' && l->src[end] != '\n')
    end += l->src[end] == '\\' && end + 1 < l->len && l->src[end + 1] != '\n' ? 2 : 1;
  if (end >= l->len || l->src[end] != '"') {
    fe_error(l->c, (fe_span){line, col, line, col + 1}, "unterminated string");
    while (l->pos < end) advance(l);
    push(l, TK_BAD, line, col, start);
    return;
  }
  char *buf = fe_alloc(&l->c->arena, end - start);
  size_t n = 0;
  fe_span bad = {0};
  advance(l); /* the opening quote */
  while (l->pos < end) {
    char ch = l->src[l->pos];
    if (ch == '\\') {
      char next = l->src[l->pos + 1];
      if (next != '"' && next != '\\' && next != 'n' && next != 't' && bad.line == 0)
        bad = (fe_span){l->line, l->col, l->line, l->col + 2};
      buf[n++] = next == 'n' ? '\n' : next == 't' ? '\t' : next;
      advance(l);
      advance(l);
      continue;
    }
    buf[n++] = ch;
    advance(l);
  }
  advance(l); /* the closing quote */
  fe_token *t = push(l, TK_STRING, line, col, start);
  t->text = buf;
  if (bad.line) {
    fe_error(l->c, bad, "unknown escape sequence in string (use \\\" \\\\ \\n or \\t)");
    t->kind = TK_BAD;
  }
}

static bool lex_punct(lexer *l) {
  static const struct {
    const char *text;
    fe_tok_kind kind;
  } puncts[] = {
      {"..", TK_DOTDOT}, {"(", TK_LPAREN}, {")", TK_RPAREN}, {"[", TK_LBRACKET},
      {"]", TK_RBRACKET}, {"{", TK_LBRACE}, {"}", TK_RBRACE}, {",", TK_COMMA},
      {":", TK_COLON},   {"=", TK_ASSIGN}, {"+", TK_PLUS},   {"-", TK_MINUS},
      {"*", TK_STAR},    {"/", TK_SLASH},  {"^", TK_CARET},  {"@", TK_AT},
  };
  for (size_t i = 0; i < sizeof puncts / sizeof puncts[0]; i++) {
    size_t n = strlen(puncts[i].text);
    if (l->pos + n <= l->len && memcmp(l->src + l->pos, puncts[i].text, n) == 0) {
      int line = l->line, col = l->col;
      size_t start = l->pos;
      for (size_t k = 0; k < n; k++) advance(l);
      push(l, puncts[i].kind, line, col, start);
      return true;
    }
  }
  return false;
}

/* What to write for a character pasted from typeset text ("'-'" for U+2212), or NULL. */
static const char *written_instead(uint32_t code) {
  static const struct {
    uint32_t code;
    const char *instead;
  } table[] = {
      {0x2212, "'-'"}, {0x2013, "'-'"}, {0x2014, "'-'"}, {0x00d7, "'*'"}, {0x22c5, "'*'"},
      {0x00b7, "'*'"}, {0x2217, "'*'"}, {0x00f7, "'/'"}, {0x2215, "'/'"}, {0x2018, "'''"},
      {0x2019, "'''"}, {0x201c, "'\"'"}, {0x201d, "'\"'"}, {0x00a0, "a space"}, {0x2009, "a space"},
      {0x202f, "a space"},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].code == code) return table[i].instead;
  return NULL;
}

/* A character the language has no use for, reported and kept as one bad token. A UTF-8
 * character is named whole, with its code point: it is most often a letter beyond ASCII
 * in a name (yhat written as ŷ) or a sign pasted from typeset text (−, ×), and its bytes
 * one by one would say nothing. */
static void lex_unexpected(lexer *l, int ch) {
  int line = l->line, col = l->col;
  size_t start = l->pos;
  fe_span at = {line, col, line, col + 1};
  uint32_t code;
  int n = fe_utf8_decode((const unsigned char *)l->src + l->pos, l->len - l->pos, &code);
  const char *instead = n ? written_instead(code) : NULL;
  if (instead)
    fe_error(l->c, at, "'%.*s' (U+%04X) cannot appear outside a string or comment: write %s", n,
             l->src + l->pos, (unsigned)code, instead);
  else if (n)
    fe_error(l->c, at,
             "'%.*s' (U+%04X) cannot appear outside a string or comment: names are ASCII letters, "
             "digits and _",
             n, l->src + l->pos, (unsigned)code);
  else if (ch >= 32 && ch < 127)
    fe_error(l->c, at, "unexpected character '%c'", ch);
  else
    fe_error(l->c, at, "unexpected byte 0x%02x", (unsigned)ch);
  for (int i = 0; i < (n ? n : 1); i++) advance(l);
  push(l, TK_BAD, line, col, start);
}

static void lex_all(lexer *l) {
  while (l->pos < l->len) {
    int ch = peek(l, 0);
    if (ch == '\n') {
      int line = l->line, col = l->col;
      size_t start = l->pos;
      advance(l);
      push(l, TK_NEWLINE, line, col, start)->span = (fe_span){line, col, line, col + 1};
    } else if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v') {
      advance(l);
    } else if (ch == '#' || (ch == '/' && peek(l, 1) == '/')) {
      while (l->pos < l->len && l->src[l->pos] != '\n') advance(l);
    } else if (is_ident_start(ch)) {
      int line = l->line, col = l->col;
      size_t start = l->pos;
      while (is_ident_char(peek(l, 0))) advance(l);
      push(l, TK_IDENT, line, col, start);
    } else if (isdigit(ch) || (ch == '.' && peek(l, 1) >= 0 && isdigit(peek(l, 1)))) {
      lex_number(l);
    } else if (ch == '"') {
      lex_string(l);
    } else if (!lex_punct(l)) {
      lex_unexpected(l, ch);
    }
  }
  int line = l->line, col = l->col;
  push(l, TK_NEWLINE, line, col, l->pos);
  push(l, TK_EOF, line, col, l->pos);
}

/* Tokens after which a statement cannot end: the newline that follows is a continuation. */
static bool wants_more(fe_tok_kind k) {
  switch (k) {
  case TK_LPAREN: case TK_LBRACKET: case TK_COMMA: case TK_ASSIGN: case TK_COLON:
  case TK_PLUS: case TK_MINUS: case TK_STAR: case TK_SLASH: case TK_CARET: case TK_AT:
  case TK_DOTDOT:
    return true;
  default:
    return false;
  }
}

/* Drops continuation newlines (see the top of the file) and collapses blank lines.
 * Inside brackets a newline continues the statement after a token that wants more (an
 * operator, a comma, an opening bracket) or before a closing bracket; outside them only
 * after a comma (`train epochs = 3,` then `seed = 1`). A trailing operator outside
 * brackets is an error, not a continuation: `a = b +` is more often a typo than a plan,
 * and joining it with the next line would blame that line. */
static int filter_newlines(fe_token *t, int n) {
  int out = 0, depth = 0;
  for (int i = 0; i < n; i++) {
    fe_tok_kind k = t[i].kind;
    if (k == TK_LPAREN || k == TK_LBRACKET) depth++;
    if ((k == TK_RPAREN || k == TK_RBRACKET) && depth > 0) depth--;
    if (k == TK_NEWLINE) {
      fe_tok_kind prev = out > 0 ? t[out - 1].kind : TK_NEWLINE;
      if (prev == TK_NEWLINE || prev == TK_LBRACE) continue;
      int j = i + 1;
      while (j < n && t[j].kind == TK_NEWLINE) j++;
      fe_tok_kind next = j < n ? t[j].kind : TK_EOF;
      bool cont = depth > 0 ? wants_more(prev) || next == TK_RPAREN || next == TK_RBRACKET
                            : prev == TK_COMMA;
      if (cont && next != TK_EOF) continue;
      depth = 0; /* the statement ends here, closed or not */
    }
    t[out++] = t[i];
  }
  return out;
}

fe_token *fe_lex(fe_ctx *c, int *ntokens) {
  lexer l = {.c = c, .src = c->src, .len = c->len, .line = 1, .col = 1};
  lex_all(&l);
  *ntokens = filter_newlines(l.toks, l.n);
  return l.toks;
}

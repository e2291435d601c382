/* Diagnostics: the list of errors and notes the frontend collects, how they print (clang's
 * format: position, message, source line, caret), and the small helpers every error
 * message needs (spelling suggestions, number formatting). Also the frontend's arena. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fe_impl.h"

/* Past this many errors the rest are noise; clang stops at 20 by default. */
#define FE_MAX_ERRORS 50

/* ---- arena ------------------------------------------------------------------------ */

struct fe_chunk {
  fe_chunk *next;
  size_t used, size;
  _Alignas(max_align_t) unsigned char data[];
};

void *fe_alloc(fe_arena *a, size_t size) {
  const size_t align = _Alignof(max_align_t);
  size = (size + align - 1) & ~(align - 1);
  fe_chunk *c = a->head;
  if (!c || c->used + size > c->size) {
    size_t chunk = c ? c->size * 2 : 16 * 1024;
    while (chunk < size) chunk *= 2;
    fe_chunk *n = malloc(sizeof *n + chunk);
    IR_ASSERT(n != NULL);
    n->next = c;
    n->used = 0;
    n->size = chunk;
    a->head = c = n;
  }
  void *p = c->data + c->used;
  c->used += size;
  memset(p, 0, size);
  return p;
}

char *fe_strndup(fe_arena *a, const char *s, size_t n) {
  char *d = fe_alloc(a, n + 1);
  memcpy(d, s, n);
  return d;
}

void fe_arena_free(fe_arena *a) {
  for (fe_chunk *c = a->head, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  a->head = NULL;
}

/* ---- the list ------------------------------------------------------------------------ */

void fe_diagnostics_init(fe_diagnostics *d) { memset(d, 0, sizeof *d); }

void fe_diagnostics_free(fe_diagnostics *d) {
  for (int i = 0; i < d->count; i++) {
    free(d->items[i].file);
    free(d->items[i].message);
  }
  free(d->items);
  memset(d, 0, sizeof *d);
}

static char *dup_or_die(const char *s) {
  char *d = strdup(s ? s : "");
  IR_ASSERT(d != NULL);
  return d;
}

static bool vadd(fe_diagnostics *d, fe_severity sev, const char *file, int line, int col,
                 int rs, int re, const char *fmt, va_list ap) {
  /* Past the limit: one last error says so, and everything after it is dropped. */
  if (d->nerrors > FE_MAX_ERRORS) return false;
  bool stop = sev == FE_ERROR && d->nerrors == FE_MAX_ERRORS;
  if (sev == FE_WARNING && d->nerrors == FE_MAX_ERRORS) return false;
  if (d->count == d->cap) {
    int ncap = d->cap ? d->cap * 2 : 16;
    fe_diag *items = realloc(d->items, (size_t)ncap * sizeof *items);
    IR_ASSERT(items != NULL);
    d->items = items;
    d->cap = ncap;
  }
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  d->items[d->count++] = (fe_diag){
      .severity = sev,
      .file = dup_or_die(file),
      .line = stop ? 0 : line,
      .col = stop ? 0 : col,
      .range_start = stop ? 0 : rs,
      .range_end = stop ? 0 : re,
      .message = dup_or_die(stop ? "too many errors; stopping here" : msg),
  };
  if (sev == FE_ERROR) d->nerrors++;
  if (sev == FE_WARNING) d->nwarnings++;
  return !stop;
}

bool fe_diag_add(fe_diagnostics *d, fe_severity sev, const char *file, int line, int col,
                 int range_start, int range_end, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  bool ok = vadd(d, sev, file, line, col, range_start, range_end, fmt, ap);
  va_end(ap);
  return ok;
}

/* ---- reporting from the frontend ------------------------------------------------------ */

fe_span fe_span_join(fe_span a, fe_span b) {
  fe_span r = a;
  if (b.end_line > r.end_line || (b.end_line == r.end_line && b.end_col > r.end_col)) {
    r.end_line = b.end_line;
    r.end_col = b.end_col;
  }
  if (b.line < r.line || (b.line == r.line && b.col < r.col)) {
    r.line = b.line;
    r.col = b.col;
  }
  return r;
}

/* The part of `range` that lies on `line`, as [start, end) columns; 0,0 if none. */
static void clip(fe_span range, int line, int *start, int *end) {
  *start = *end = 0;
  if (range.line > line || range.end_line < line || range.line == 0) return;
  int s = range.line == line ? range.col : 1;
  int e = range.end_line == line ? range.end_col : 1 << 20;
  if (e - s < 2 && range.line == range.end_line) return; /* a caret says it all */
  *start = s;
  *end = e;
}

static void vreport(fe_ctx *c, fe_severity sev, fe_span at, fe_span range, const char *fmt,
                     va_list ap) {
  int rs, re;
  clip(range, at.line, &rs, &re);
  vadd(c->diags, sev, c->path, at.line, at.col, rs, re, fmt, ap);
}

void fe_error_at(fe_ctx *c, fe_span at, fe_span range, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(c, FE_ERROR, at, range, fmt, ap);
  va_end(ap);
}

void fe_error(fe_ctx *c, fe_span at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(c, FE_ERROR, at, at, fmt, ap);
  va_end(ap);
}

void fe_note(fe_ctx *c, fe_span at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(c, FE_NOTE, at, at, fmt, ap);
  va_end(ap);
}

void fe_warning(fe_ctx *c, fe_span at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(c, FE_WARNING, at, at, fmt, ap);
  va_end(ap);
}

/* ---- order ------------------------------------------------------------------------------ */

/* Errors are found stage by stage (all bad tokens first, then syntax, then meaning); the
 * reader wants them in the order of the file. Sorts the diagnostics from index `from` on
 * by position, each error or warning with the notes that follow it, stably. */
void fe_sort_diagnostics(fe_diagnostics *d, int from) {
  typedef struct {
    int start, n, line, col;
  } group;
  int ngroups = 0;
  group *g = malloc((size_t)(d->count - from + 1) * sizeof *g);
  fe_diag *copy = malloc((size_t)(d->count - from + 1) * sizeof *copy);
  IR_ASSERT(g && copy);
  for (int i = from; i < d->count; i++) {
    if (d->items[i].severity != FE_NOTE || ngroups == 0) {
      int line = d->items[i].line > 0 ? d->items[i].line : 1 << 30;
      g[ngroups++] = (group){i, 0, line, d->items[i].col};
    }
    g[ngroups - 1].n++;
  }
  /* Insertion sort: stable, and the lists are short. */
  for (int i = 1; i < ngroups; i++) {
    group x = g[i];
    int j = i - 1;
    while (j >= 0 && (g[j].line > x.line || (g[j].line == x.line && g[j].col > x.col))) {
      g[j + 1] = g[j];
      j--;
    }
    g[j + 1] = x;
  }
  int k = 0;
  for (int i = 0; i < ngroups; i++)
    for (int j = 0; j < g[i].n; j++) copy[k++] = d->items[g[i].start + j];
  if (k) memcpy(d->items + from, copy, (size_t)k * sizeof *copy);
  free(g);
  free(copy);
}

/* ---- printing -------------------------------------------------------------------------- */

static const char *sev_name(fe_severity s) {
  return s == FE_ERROR ? "error" : s == FE_WARNING ? "warning" : "note";
}

/* Start and length of 1-based line `line` in source, or false if it has none. */
static bool find_line(const char *src, size_t len, int line, size_t *start, size_t *n) {
  if (!src || line < 1) return false;
  size_t pos = 0;
  for (int l = 1; l < line; l++) {
    const char *nl = memchr(src + pos, '\n', len - pos);
    if (!nl) return false;
    pos = (size_t)(nl - src) + 1;
  }
  const char *nl = memchr(src + pos, '\n', len - pos);
  size_t end = nl ? (size_t)(nl - src) : len;
  if (end > pos && src[end - 1] == '\r') end--;
  *start = pos;
  *n = end - pos;
  return true;
}

static void print_snippet(FILE *out, const fe_diag *d, const char *src, size_t len) {
  size_t start, n;
  if (d->line < 1 || !find_line(src, len, d->line, &start, &n)) return;
  const char *text = src + start;
  /* Unprintable bytes are shown as '?' so the caret stays aligned and the terminal sane. */
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)text[i];
    fputc(ch == '\t' || (ch >= 32 && ch != 127) ? ch : '?', out);
  }
  fputc('\n', out);
  int col = d->col > 0 ? d->col : 1;
  int end = col + 1;
  if (d->range_end > end) end = d->range_end;
  if ((size_t)end > n + 1) end = (int)n + 1;
  if (end <= col) end = col + 1;
  for (int i = 1; i < end; i++) {
    char mark = ' ';
    if (i == col) mark = '^';
    else if (d->range_end > d->range_start && i >= d->range_start && i < d->range_end) mark = '~';
    if (mark == ' ' && (size_t)i <= n && text[i - 1] == '\t') mark = '\t'; /* keep tabs aligned */
    /* A UTF-8 character is one column on the terminal: its continuation bytes get no mark. */
    if (mark != '^' && (size_t)i <= n && ((unsigned char)text[i - 1] & 0xc0) == 0x80) continue;
    fputc(mark, out);
  }
  fputc('\n', out);
}

void fe_print_diagnostics(FILE *out, const fe_diagnostics *d, const char *source, size_t len) {
  for (int i = 0; i < d->count; i++) {
    const fe_diag *g = &d->items[i];
    if (g->line > 0)
      fprintf(out, "%s:%d:%d: %s: %s\n", g->file, g->line, g->col, sev_name(g->severity),
              g->message);
    else
      fprintf(out, "%s: %s: %s\n", g->file, sev_name(g->severity), g->message);
    print_snippet(out, g, source, len);
  }
}

static bool find_line(const char *src, size_t len, int line, size_t *start, size_t *n);

const char *fe_span_text(fe_ctx *c, fe_span s, const char *dflt) {
  size_t start, n;
  if (s.line != s.end_line || s.end_col <= s.col || s.end_col - s.col > 32 ||
      !find_line(c->src, c->len, s.line, &start, &n) || (size_t)s.end_col - 1 > n)
    return dflt;
  return fe_strndup(&c->arena, c->src + start + s.col - 1, (size_t)(s.end_col - s.col));
}

/* ---- text ------------------------------------------------------------------------------ */

int fe_utf8_decode(const unsigned char *s, size_t n, uint32_t *code) {
  static const uint32_t shortest[] = {0, 0, 0x80, 0x800, 0x10000};
  int len = n == 0 ? 0 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
  if (len == 0 || s[0] > 0xf4 || (size_t)len > n) return 0;
  uint32_t c = s[0] & (0x7fu >> len);
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    c = c << 6 | (s[i] & 0x3fu);
  }
  if (c < shortest[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  *code = c;
  return len;
}

/* ---- suggestions ---------------------------------------------------------------------- */

/* Optimal string alignment distance (Levenshtein plus adjacent swaps), capped: longer
 * names than this are never "close" anyway. */
static int edit_distance(const char *a, const char *b) {
  enum { MAX = 64 };
  size_t n = strlen(a), m = strlen(b);
  if (n >= MAX || m >= MAX) return MAX;
  int d[MAX + 1][MAX + 1];
  for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= n; i++) {
    for (size_t j = 1; j <= m; j++) {
      int cost = a[i - 1] != b[j - 1];
      int best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  }
  return d[n][m];
}

const char *fe_closest(const char *name, const char *const *cands, int ncands) {
  const char *best = NULL;
  int best_d = 1 << 30;
  size_t len = strlen(name);
  /* One edit in three characters, at least one: "rleu" -> "relu", not "x" -> "y". */
  int limit = (int)(len + 2) / 3;
  if (limit < 1) limit = 1;
  for (int i = 0; i < ncands; i++) {
    if (!cands[i] || strcmp(cands[i], name) == 0) continue;
    int d = edit_distance(name, cands[i]);
    if (d < best_d) {
      best_d = d;
      best = cands[i];
    }
  }
  return best_d <= limit && (len > 1 || best_d == 0) ? best : NULL;
}

void fe_format_number(double v, char *buf, size_t size) {
  /* Whole numbers as integers ("1000", not "1e+03"): what people wrote, and what atoi reads. */
  if (v == floor(v) && fabs(v) < 1e15) {
    snprintf(buf, size, "%.0f", v == 0 ? 0.0 : v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, size, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) return;
  }
}

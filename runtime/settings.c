/* The reader declared in rt_settings.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "rt_settings.h"

typedef struct {
  const char *src, *p;
  const char *what; /* for messages */
} reader;

void rt_val_free(rt_val *v) {
  free(v->text);
  for (int i = 0; i < v->n; i++) {
    rt_val_free(&v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  memset(v, 0, sizeof *v);
}

int rt_val_error(const char *what, const char *text, const char *at, const char *message) {
  rt_set_error("%s \"%s\": %s at column %d", what, text, message, (int)(at - text) + 1);
  return -1;
}

static int fail(reader *r, const char *message) { return rt_val_error(r->what, r->src, r->p, message); }

static int out_of_memory(void) {
  rt_set_error("out of memory");
  return -1;
}

static void skip_ws(reader *r) {
  while (*r->p && isspace((unsigned char)*r->p)) r->p++;
}

static int is_word_char(char c) {
  return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '/' || c == '+' || c == '-';
}

static char *dup_n(const char *s, size_t n) {
  char *t = malloc(n + 1);
  if (t) {
    memcpy(t, s, n);
    t[n] = '\0';
  }
  return t;
}

/* Appends item (and, to a CALL, its keyword); frees both on failure. The capacity doubles
 * when n reaches a power of two, so that a range of a million columns (c0..c999999) is
 * pushed in linear time, not quadratic. */
static int push(rt_val *list, rt_val item, char *key) {
  int n = list->n, full = (n & (n - 1)) == 0;
  size_t cap = n ? 2 * (size_t)n : 1;
  rt_val *items = full ? realloc(list->items, cap * sizeof *items) : list->items;
  if (items) list->items = items;
  char **keys = items && list->kind == RT_VAL_CALL ? full ? realloc(list->keys, cap * sizeof *keys) : list->keys : NULL;
  if (keys) list->keys = keys;
  if (!items || (list->kind == RT_VAL_CALL && !keys)) {
    rt_val_free(&item);
    free(key);
    return out_of_memory();
  }
  list->items[list->n] = item;
  if (list->kind == RT_VAL_CALL) list->keys[list->n] = key;
  list->n++;
  return 0;
}

/* "c0".."c9": the names c0, c1, ..., c9, as a list. */
static int expand_range(reader *r, const rt_val *lo, const rt_val *hi, rt_val *out) {
  const char *example = "a range of columns is written like c0..c9";
  if (lo->kind == RT_VAL_LIST || hi->kind == RT_VAL_LIST || lo->kind == RT_VAL_CALL || hi->kind == RT_VAL_CALL)
    return fail(r, example);
  size_t la = strlen(lo->text), lb = strlen(hi->text), pa = la, pb = lb;
  while (pa > 0 && isdigit((unsigned char)lo->text[pa - 1])) pa--;
  while (pb > 0 && isdigit((unsigned char)hi->text[pb - 1])) pb--;
  if (pa == la || pb == lb || la - pa > 9 || lb - pb > 9 || pa != pb || strncmp(lo->text, hi->text, pa))
    return fail(r, example);
  long a = strtol(lo->text + pa, NULL, 10), b = strtol(hi->text + pb, NULL, 10);
  if (a > b || b - a > 1000000) return fail(r, example);
  *out = (rt_val){.kind = RT_VAL_LIST, .start = lo->start, .end = hi->end};
  for (long k = a; k <= b; k++) {
    char buf[128];
    snprintf(buf, sizeof buf, "%.*s%ld", (int)pa, lo->text, k);
    rt_val item = {.kind = RT_VAL_WORD, .text = dup_n(buf, strlen(buf))};
    if (!item.text) return out_of_memory();
    if (push(out, item, NULL)) return -1;
  }
  return 0;
}

static int read_value(reader *r, rt_val *out);

/* "..." with \" and \\ escaped */
static int read_string(reader *r, rt_val *out) {
  size_t n = 0;
  const char *e = r->p + 1;
  while (*e && *e != '"') e += (e[0] == '\\' && e[1]) ? 2 : 1, n++;
  if (*e != '"') return fail(r, "unterminated string");
  out->kind = RT_VAL_STRING;
  if (!(out->text = malloc(n + 1))) return out_of_memory();
  char *q = out->text;
  for (const char *p = r->p + 1; p < e; p++) *q++ = (*p == '\\' && p + 1 < e) ? *++p : *p;
  *q = '\0';
  r->p = e + 1;
  return 0;
}

static int read_list(reader *r, rt_val *out) {
  r->p++;
  out->kind = RT_VAL_LIST;
  skip_ws(r);
  while (*r->p != ']') {
    rt_val item;
    if (read_value(r, &item)) return -1;
    if (item.kind == RT_VAL_LIST) { /* a range (or a nested list) contributes its items */
      for (int i = 0; i < item.n; i++) {
        rt_val moved = item.items[i];
        item.items[i] = (rt_val){0};
        if (push(out, moved, NULL)) {
          rt_val_free(&item);
          return -1;
        }
      }
      rt_val_free(&item);
    } else if (push(out, item, NULL)) {
      return -1;
    }
    skip_ws(r);
    if (*r->p == ',') {
      r->p++;
      skip_ws(r);
    } else if (*r->p != ']') {
      return fail(r, "expected ',' or ']' in a list");
    }
  }
  r->p++;
  return 0;
}

/* The arguments of a call, r->p just after its '('. */
static int read_arguments(reader *r, rt_val *out) {
  out->kind = RT_VAL_CALL;
  skip_ws(r);
  while (*r->p != ')') {
    char *key = NULL;
    const char *k = r->p;
    while (isalnum((unsigned char)*k) || *k == '_') k++;
    const char *eq = k;
    while (*eq && isspace((unsigned char)*eq)) eq++;
    if (k > r->p && *eq == '=' && !isdigit((unsigned char)*r->p)) {
      if (!(key = dup_n(r->p, (size_t)(k - r->p)))) return out_of_memory();
      r->p = eq + 1;
    }
    rt_val item;
    if (read_value(r, &item)) {
      free(key);
      return -1;
    }
    if (push(out, item, key)) return -1;
    skip_ws(r);
    if (*r->p == ',') {
      r->p++;
      skip_ws(r);
    } else if (*r->p != ')') {
      return fail(r, "expected ',' or ')'");
    }
  }
  r->p++;
  return 0;
}

/* A word, a number, or a call. A word ends at a range's "..", unless it is a path
 * (../data.csv, data/../x.csv). */
static int read_word(reader *r, rt_val *out) {
  const char *s = r->p, *e = s;
  int path = 0;
  while (is_word_char(*e) && !(e > s && !path && e[0] == '.' && e[1] == '.')) path |= *e++ == '/';
  if (!(out->text = dup_n(s, (size_t)(e - s)))) return out_of_memory();
  r->p = e;
  out->kind = rt_parse_number(s, (size_t)(e - s), &out->num) == 0 ? RT_VAL_NUMBER : RT_VAL_WORD;
  const char *open = e;
  while (*open && isspace((unsigned char)*open)) open++;
  if (out->kind != RT_VAL_WORD || *open != '(') return 0;
  r->p = open + 1;
  return read_arguments(r, out);
}

static int read_atom(reader *r, rt_val *out) {
  skip_ws(r);
  *out = (rt_val){.start = r->p};
  int rc;
  if (*r->p == '"')
    rc = read_string(r, out);
  else if (*r->p == '[')
    rc = read_list(r, out);
  else if (is_word_char(*r->p))
    rc = read_word(r, out);
  else
    rc = fail(r, "expected a value");
  if (rc) {
    rt_val_free(out);
    return -1;
  }
  out->end = r->p;
  return 0;
}

static int read_value(reader *r, rt_val *out) {
  if (read_atom(r, out)) return -1;
  skip_ws(r);
  if (r->p[0] != '.' || r->p[1] != '.') return 0;
  r->p += 2;
  rt_val hi, lo = *out;
  *out = (rt_val){0};
  if (read_atom(r, &hi)) {
    rt_val_free(&lo);
    return -1;
  }
  int rc = expand_range(r, &lo, &hi, out);
  if (rc) rt_val_free(out);
  rt_val_free(&lo);
  rt_val_free(&hi);
  return rc;
}

int rt_val_parse(const char *what, const char *text, rt_val *out) {
  reader r = {.src = text, .p = text, .what = what};
  if (read_value(&r, out)) return -1;
  skip_ws(&r);
  if (*r.p) {
    rt_val_free(out);
    return fail(&r, "unexpected text after the value");
  }
  return 0;
}

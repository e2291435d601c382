/* Data sources: the text of a model's `data` entry (and a data file named on the command
 * line) turned into an rt_data_spec.
 *
 * The text is a call, as the model language writes it and the frontend canonicalises it:
 *   source = NAME "(" [arg ("," arg)*] ")"
 *   arg    = [NAME "="] value
 *   value  = STRING | NUMBER | NAME | atom ".." atom | "[" [value ("," value)*] "]"
 * A range `pixel0..pixel63` names the columns pixel0, pixel1, ..., pixel63. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* strdup, when built outside CMake (train.so) */
#endif
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_train.h"

/* ---- a tiny reader for the call syntax ----------------------------------------------- */

typedef enum { V_STR, V_NUM, V_NAME, V_LIST } val_kind;

typedef struct val val;
struct val {
  val_kind kind;
  char *text;   /* STR, NAME, NUM (as written) */
  double num;   /* NUM */
  int n;        /* LIST */
  val *items;
};

typedef struct {
  char *key; /* NULL: positional */
  val v;
} arg;

typedef struct {
  const char *src, *p;
  char name[64];
  arg *args;
  int nargs;
} reader;

static void val_free(val *v) {
  free(v->text);
  for (int i = 0; i < v->n; i++) val_free(&v->items[i]);
  free(v->items);
}

static void skip_ws(reader *r) {
  while (*r->p && isspace((unsigned char)*r->p)) r->p++;
}

static int fail(reader *r, const char *what) {
  rt_set_error("data source \"%s\": %s at column %d", r->src, what, (int)(r->p - r->src) + 1);
  return -1;
}

static char *dup_range(const char *s, size_t n) {
  char *t = malloc(n + 1);
  if (t) {
    memcpy(t, s, n);
    t[n] = '\0';
  }
  return t;
}

/* Appends one item to a list value. */
static int push_item(val *list, val item) {
  val *items = realloc(list->items, (size_t)(list->n + 1) * sizeof *items);
  if (!items) {
    val_free(&item);
    rt_set_error("out of memory");
    return -1;
  }
  list->items = items;
  list->items[list->n++] = item;
  return 0;
}

/* Splits "pixel12" into "pixel" and 12; -1 when it does not end in digits. */
static int split_number_suffix(const char *s, size_t *prefix_len, long *num) {
  size_t n = strlen(s), i = n;
  while (i > 0 && isdigit((unsigned char)s[i - 1])) i--;
  if (i == n || n - i > 9) return -1;
  *prefix_len = i;
  *num = strtol(s + i, NULL, 10);
  return 0;
}

/* a..b: the names from a to b, as a list; *out is untouched on failure. */
static int expand_range(reader *r, val *lo, val *hi, val *out) {
  size_t pa, pb;
  long a, b;
  if ((lo->kind != V_NAME && lo->kind != V_STR) || (hi->kind != V_NAME && hi->kind != V_STR) ||
      split_number_suffix(lo->text, &pa, &a) || split_number_suffix(hi->text, &pb, &b) || pa != pb ||
      strncmp(lo->text, hi->text, pa) || a > b || b - a > 1000000)
    return fail(r, "a range of columns is written like pixel0..pixel63");
  val list = {.kind = V_LIST};
  for (long k = a; k <= b; k++) {
    char buf[128];
    snprintf(buf, sizeof buf, "%.*s%ld", (int)pa, lo->text, k);
    val item = {.kind = V_NAME, .text = dup_range(buf, strlen(buf))};
    if (!item.text || push_item(&list, item)) {
      val_free(&list);
      rt_set_error("out of memory");
      return -1;
    }
  }
  *out = list;
  return 0;
}

static int read_value(reader *r, val *out);

/* A bare word: what the frontend writes without quotes ([A-Za-z0-9_./+-]). */
static int is_word_char(char c) {
  return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '/' || c == '+' || c == '-';
}

static int read_atom(reader *r, val *out) {
  skip_ws(r);
  *out = (val){0};
  const char *s = r->p;
  if (*s == '"') {
    /* "..." with \" and \\ escaped */
    size_t n = 0;
    const char *e = s + 1;
    while (*e && *e != '"') e += (e[0] == '\\' && e[1]) ? 2 : 1, n++;
    if (*e != '"') return fail(r, "unterminated string");
    out->kind = V_STR;
    if ((out->text = malloc(n + 1))) {
      char *q = out->text;
      for (const char *p = s + 1; p < e; p++) *q++ = (*p == '\\' && p + 1 < e) ? *++p : *p;
      *q = '\0';
    }
    r->p = e + 1;
  } else if (*s == '[') {
    r->p++;
    out->kind = V_LIST;
    skip_ws(r);
    if (*r->p == ']') {
      r->p++;
      return 0;
    }
    for (;;) {
      val item;
      if (read_value(r, &item)) {
        val_free(out);
        *out = (val){0};
        return -1;
      }
      /* a range inside a list contributes its names */
      int failed = 0;
      if (item.kind == V_LIST) {
        for (int i = 0; i < item.n && !failed; i++) {
          failed = push_item(out, item.items[i]) != 0;
          item.items[i] = (val){0};
        }
        val_free(&item);
      } else {
        failed = push_item(out, item) != 0;
      }
      skip_ws(r);
      if (!failed && *r->p == ',') {
        r->p++;
        continue;
      }
      if (!failed && *r->p == ']') {
        r->p++;
        return 0;
      }
      if (!failed) fail(r, "expected ',' or ']' in a list");
      val_free(out);
      *out = (val){0};
      return -1;
    }
  } else if (is_word_char(*s)) {
    /* A word ends at a range's "..", unless it is a path (../data.csv, data/../x.csv). */
    const char *e = s;
    int path = 0;
    while (is_word_char(*e) && !(e > s && !path && e[0] == '.' && e[1] == '.')) path |= *e++ == '/';
    double v;
    if (rt_parse_number(s, (size_t)(e - s), &v) == 0) {
      out->kind = V_NUM;
      out->num = v;
    } else {
      out->kind = V_NAME;
    }
    out->text = dup_range(s, (size_t)(e - s));
    r->p = e;
  } else {
    return fail(r, "expected a value");
  }
  if (out->kind != V_LIST && !out->text) {
    rt_set_error("out of memory");
    return -1;
  }
  return 0;
}

static int read_value(reader *r, val *out) {
  if (read_atom(r, out)) return -1;
  skip_ws(r);
  if (r->p[0] == '.' && r->p[1] == '.') {
    r->p += 2;
    val hi, lo = *out;
    *out = (val){0};
    if (read_atom(r, &hi)) {
      val_free(&lo);
      return -1;
    }
    int rc = expand_range(r, &lo, &hi, out);
    val_free(&lo);
    val_free(&hi);
    return rc;
  }
  return 0;
}

static void reader_free(reader *r) {
  for (int i = 0; i < r->nargs; i++) {
    free(r->args[i].key);
    val_free(&r->args[i].v);
  }
  free(r->args);
}

static int read_call(reader *r) {
  skip_ws(r);
  const char *s = r->p;
  while (isalnum((unsigned char)*r->p) || *r->p == '_') r->p++;
  size_t n = (size_t)(r->p - s);
  if (n == 0 || n >= sizeof r->name) return fail(r, "expected the name of a data source");
  memcpy(r->name, s, n);
  r->name[n] = '\0';
  skip_ws(r);
  if (*r->p == '\0') return 0; /* a bare name: no arguments */
  if (*r->p++ != '(') return fail(r, "expected '('");
  skip_ws(r);
  if (*r->p == ')') {
    r->p++;
  } else {
    for (;;) {
      arg a = {0};
      skip_ws(r);
      const char *k = r->p;
      while (isalnum((unsigned char)*k) || *k == '_') k++;
      const char *eq = k;
      while (isspace((unsigned char)*eq)) eq++;
      if (k > r->p && *eq == '=' && !isdigit((unsigned char)*r->p)) {
        a.key = dup_range(r->p, (size_t)(k - r->p));
        r->p = eq + 1;
      }
      if (read_value(r, &a.v)) {
        free(a.key);
        return -1;
      }
      arg *args = realloc(r->args, (size_t)(r->nargs + 1) * sizeof *args);
      if (!args) {
        free(a.key);
        val_free(&a.v);
        rt_set_error("out of memory");
        return -1;
      }
      r->args = args;
      r->args[r->nargs++] = a;
      skip_ws(r);
      if (*r->p == ',') {
        r->p++;
        continue;
      }
      if (*r->p == ')') {
        r->p++;
        break;
      }
      return fail(r, "expected ',' or ')'");
    }
  }
  skip_ws(r);
  if (*r->p) return fail(r, "unexpected text after the data source");
  return 0;
}

/* The argument called one of `keys` (a '|'-separated list), or positional number `pos`
 * (-1: none). Marks it used. */
static val *get_arg(reader *r, int *used, const char *keys, int pos) {
  int npos = 0;
  for (int i = 0; i < r->nargs; i++) {
    if (r->args[i].key) {
      const char *k = keys;
      size_t len = strlen(r->args[i].key);
      while (*k) {
        const char *e = strchr(k, '|');
        size_t kl = e ? (size_t)(e - k) : strlen(k);
        if (kl == len && !strncmp(k, r->args[i].key, len)) {
          used[i] = 1;
          return &r->args[i].v;
        }
        k += kl + (e != NULL);
      }
    } else if (npos++ == pos) {
      used[i] = 1;
      return &r->args[i].v;
    }
  }
  return NULL;
}

static int want_string(reader *r, val *v, const char *what, char **out) {
  if (v->kind != V_STR && v->kind != V_NAME) {
    rt_set_error("data source \"%s\": %s must be a string", r->src, what);
    return -1;
  }
  if (!(*out = strdup(v->text))) {
    rt_set_error("out of memory");
    return -1;
  }
  return 0;
}

static int want_number(reader *r, val *v, const char *what, double *out) {
  if (v->kind != V_NUM) {
    rt_set_error("data source \"%s\": %s must be a number", r->src, what);
    return -1;
  }
  *out = v->num;
  return 0;
}

static int want_bool(reader *r, val *v, const char *what, int *out) {
  if (v->kind == V_NAME && (!strcmp(v->text, "true") || !strcmp(v->text, "false"))) {
    *out = v->text[0] == 't';
    return 0;
  }
  if (v->kind == V_NUM && (v->num == 0 || v->num == 1)) {
    *out = v->num == 1;
    return 0;
  }
  rt_set_error("data source \"%s\": %s must be true or false", r->src, what);
  return -1;
}

static int interpret_csv(reader *r, int *used, rt_data_spec *s) {
  s->kind = RT_SOURCE_CSV;
  val *v = get_arg(r, used, "path", 0);
  if (!v) {
    rt_set_error("data source \"%s\": csv(...) needs the file's path", r->src);
    return -1;
  }
  if (want_string(r, v, "the path", &s->path)) return -1;
  if ((v = get_arg(r, used, "features", 1))) {
    val one = *v;
    val *items = v->kind == V_LIST ? v->items : &one;
    int n = v->kind == V_LIST ? v->n : 1;
    if (n == 0) {
      rt_set_error("data source \"%s\": the list of feature columns is empty", r->src);
      return -1;
    }
    if (!(s->features = calloc((size_t)n, sizeof *s->features))) {
      rt_set_error("out of memory");
      return -1;
    }
    s->nfeatures = n;
    for (int i = 0; i < n; i++)
      if (want_string(r, &items[i], "a feature column", &s->features[i])) return -1;
  }
  if ((v = get_arg(r, used, "label", 2)) && want_string(r, v, "the label column", &s->label))
    return -1;
  return 0;
}

static int interpret_synthetic(reader *r, int *used, rt_data_spec *s) {
  s->kind = RT_SOURCE_SYNTHETIC;
  s->noise = 0.01;
  s->n = 1000;
  val *v = get_arg(r, used, "w", 0);
  if (!v || v->kind != V_LIST || v->n == 0) {
    rt_set_error("data source \"%s\": the synthetic source needs its true weights, w = [...]", r->src);
    return -1;
  }
  if (!(s->w = calloc((size_t)v->n, sizeof *s->w))) {
    rt_set_error("out of memory");
    return -1;
  }
  s->nw = v->n;
  for (int i = 0; i < v->n; i++)
    if (want_number(r, &v->items[i], "a weight", &s->w[i])) return -1;
  if ((v = get_arg(r, used, "b", 1)) && want_number(r, v, "b", &s->b)) return -1;
  if ((v = get_arg(r, used, "noise", -1)) && want_number(r, v, "noise", &s->noise)) return -1;
  double d;
  if ((v = get_arg(r, used, "n", 2))) {
    if (want_number(r, v, "n", &d)) return -1;
    if (d < 1 || d > 1e12 || d != (double)(int64_t)d) {
      rt_set_error("data source \"%s\": n must be a positive whole number", r->src);
      return -1;
    }
    s->n = (int64_t)d;
  }
  if ((v = get_arg(r, used, "seed", -1))) {
    if (want_number(r, v, "seed", &d)) return -1;
    if (d < 0 || d > 9007199254740992.0 || d != floor(d)) {
      rt_set_error("data source \"%s\": seed must be a whole number >= 0", r->src);
      return -1;
    }
    s->has_seed = 1;
    s->seed = (uint64_t)d;
  }
  if (s->noise < 0) {
    rt_set_error("data source \"%s\": noise must not be negative", r->src);
    return -1;
  }
  return 0;
}

static int interpret_npy(reader *r, int *used, rt_data_spec *s) {
  s->kind = RT_SOURCE_NPY;
  /* npy(features=x.npy, labels=y.npy): kept as "x.npy,y.npy", one file per model input */
  val *x = get_arg(r, used, "features", 0), *y = get_arg(r, used, "labels", 1);
  char *xs = NULL, *ys = NULL;
  if (!x) {
    rt_set_error("data source \"%s\": npy(...) needs features = \"FILE.npy\"", r->src);
    return -1;
  }
  if (want_string(r, x, "features", &xs) || (y && want_string(r, y, "labels", &ys))) {
    free(xs);
    return -1;
  }
  size_t n = strlen(xs) + (ys ? strlen(ys) + 1 : 0) + 1;
  if ((s->path = malloc(n))) snprintf(s->path, n, "%s%s%s", xs, ys ? "," : "", ys ? ys : "");
  free(xs);
  free(ys);
  if (!s->path) {
    rt_set_error("out of memory");
    return -1;
  }
  return 0;
}

int rt_data_spec_parse(const char *text, rt_data_spec *out) {
  memset(out, 0, sizeof *out);
  reader r = {.src = text, .p = text};
  int *used = NULL, status = -1;
  if (read_call(&r)) goto done;
  used = calloc((size_t)r.nargs + 1, sizeof *used);
  if (!used) {
    rt_set_error("out of memory");
    goto done;
  }
  if (!strcmp(r.name, "csv")) {
    if (interpret_csv(&r, used, out)) goto done;
  } else if (!strcmp(r.name, "npy")) {
    if (interpret_npy(&r, used, out)) goto done;
  } else if (!strcmp(r.name, "synthetic_linreg")) {
    if (interpret_synthetic(&r, used, out)) goto done;
  } else if (!strcmp(r.name, "none")) {
    out->kind = RT_SOURCE_NONE;
  } else {
    rt_set_error("data source \"%s\": unknown source '%s' (dlc knows csv, npy and synthetic_linreg)", text, r.name);
    goto done;
  }
  val *v = get_arg(&r, used, "standardize", -1);
  if (v && want_bool(&r, v, "standardize", &out->standardize)) goto done;
  for (int i = 0; i < r.nargs; i++)
    if (!used[i]) {
      if (r.args[i].key)
        rt_set_error("data source \"%s\": %s(...) has no setting '%s'", text, r.name, r.args[i].key);
      else
        rt_set_error("data source \"%s\": too many arguments for %s(...)", text, r.name);
      goto done;
    }
  status = 0;
done:
  free(used);
  reader_free(&r);
  if (status) rt_data_spec_free(out);
  return status;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

int rt_data_spec_for_file(const char *path, const rt_data_spec *base, rt_data_spec *out) {
  memset(out, 0, sizeof *out);
  out->standardize = base ? base->standardize : 0;
  out->prep = base ? base->prep : NULL;
  if (!(out->path = strdup(path))) goto oom;
  if (ends_with(path, ".npy")) {
    out->kind = RT_SOURCE_NPY;
    return 0;
  }
  out->kind = RT_SOURCE_CSV;
  if (base && base->kind == RT_SOURCE_CSV) {
    if (base->label && !(out->label = strdup(base->label))) goto oom;
    if (base->nfeatures) {
      if (!(out->features = calloc((size_t)base->nfeatures, sizeof *out->features))) goto oom;
      out->nfeatures = base->nfeatures;
      for (int i = 0; i < base->nfeatures; i++)
        if (!(out->features[i] = strdup(base->features[i]))) goto oom;
    }
  }
  return 0;
oom:
  rt_data_spec_free(out);
  rt_set_error("out of memory");
  return -1;
}

void rt_data_spec_free(rt_data_spec *s) {
  free(s->path);
  for (int i = 0; i < s->nfeatures; i++) free(s->features[i]);
  free(s->features);
  free(s->label);
  free(s->w);
  memset(s, 0, sizeof *s);
}

/* dir + "/" + p for a relative p. */
static char *join(const char *dir, const char *p, size_t plen) {
  if (p[0] == '/' || !dir || !dir[0]) return dup_range(p, plen);
  size_t dl = strlen(dir);
  char *s = malloc(dl + plen + 2);
  if (s) snprintf(s, dl + plen + 2, "%s/%.*s", dir, (int)plen, p);
  return s;
}

int rt_data_spec_resolve(rt_data_spec *s, const char *dir) {
  if (!s->path || !dir || !dir[0]) return 0;
  size_t cap = 1;
  for (const char *p = s->path; *p; p++) cap += (*p == ',') ? strlen(dir) + 2 : 1;
  cap += strlen(dir) + 1;
  char *out = calloc(cap, 1);
  if (!out) {
    rt_set_error("out of memory");
    return -1;
  }
  for (const char *p = s->path;;) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char *one = join(dir, p, n);
    if (!one) {
      free(out);
      rt_set_error("out of memory");
      return -1;
    }
    if (out[0]) strcat(out, ",");
    strcat(out, one);
    free(one);
    if (!e) break;
    p = e + 1;
  }
  free(s->path);
  s->path = out;
  return 0;
}

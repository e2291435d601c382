/* A preparation as JSON: what goes into a checkpoint's metadata under "dlc.prep" (every
 * setting and everything learned), and the expanded input layout for users of train.so.
 *
 *   {"version": 1, "missing": "mean", "dummy_na": true, "unseen": "error", "standardize": true,
 *    "columns": [{"name": "rooms", "kind": "numeric", "missing": "mean", "fill": 3.5,
 *                 "mean": 3.2, "std": 1.1},
 *                {"name": "alley", "kind": "categorical", "missing": "mean",
 *                 "categories": ["Grvl", "Pave"], "missing_indicator": true}],
 *    "layout": ["rooms", "alley=Grvl", "alley=Pave", "alley=nan"]}
 *
 * Floats are written with 9 significant digits, which read back as the same float. The
 * reader is a small JSON parser (any valid JSON), strict about what this file writes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep_impl.h"

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct {
  char *s;
  size_t len, cap;
  int failed;
} buf;

static void add(buf *b, const char *fmt, ...) RT_PRINTF(2, 3);
static void add(buf *b, const char *fmt, ...) {
  if (b->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = 1;
      return;
    }
    if (b->s && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)n;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->failed = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
}

static void add_str(buf *b, const char *s) {
  add(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      add(b, "\\%c", c);
    else if (c < 0x20)
      add(b, "\\u%04x", c);
    else
      add(b, "%c", c);
  }
  add(b, "\"");
}

static void add_float(buf *b, float v) { add(b, "%.9g", (double)v); }

static int finish(buf *b, char **out) {
  if (b->failed) {
    free(b->s);
    *out = NULL;
    return prep_oom();
  }
  *out = b->s;
  return 0;
}

static int need_fitted(const rt_prep *p) {
  if (p->fitted) return 0;
  rt_set_error("the data preparation has not learned from training data yet");
  return -1;
}

int rt_prep_to_json(const rt_prep *p, char **json) {
  *json = NULL;
  if (need_fitted(p)) return -1;
  buf b = {0};
  char pol[256];
  prep_policy_text(&p->missing, pol, sizeof pol);
  add(&b, "{\"version\": 1, \"missing\": ");
  add_str(&b, pol);
  add(&b, ", \"dummy_na\": %s, \"unseen\": \"%s\", \"standardize\": %s, \"columns\": [", p->dummy_na ? "true" : "false",
      p->unseen_zeros ? "zeros" : "error", p->standardize ? "true" : "false");
  for (int j = 0; j < p->ncols; j++) {
    const prep_col *c = &p->cols[j];
    add(&b, "%s{\"name\": ", j ? ", " : "");
    add_str(&b, c->name);
    prep_policy_text(&c->policy, pol, sizeof pol);
    add(&b, ", \"kind\": \"%s\", \"missing\": ", c->categorical ? "categorical" : "numeric");
    add_str(&b, pol);
    if (c->categorical) {
      add(&b, ", \"categories\": [");
      for (int32_t k = 0; k < c->ncats; k++) {
        if (k) add(&b, ", ");
        add_str(&b, c->cats[k]);
      }
      add(&b, "]");
      if (c->fill_cat >= 0) {
        add(&b, ", \"fill\": ");
        add_str(&b, c->cats[c->fill_cat]);
      }
      add(&b, ", \"missing_indicator\": %s", c->na_indicator ? "true" : "false");
    } else {
      if (c->has_fill) add(&b, ", \"fill\": "), add_float(&b, c->fill);
      if (c->scaled) add(&b, ", \"mean\": "), add_float(&b, c->mean), add(&b, ", \"std\": "), add_float(&b, c->std);
    }
    add(&b, "}");
  }
  add(&b, "], \"layout\": [");
  for (int64_t k = 0; k < p->width; k++) {
    if (k) add(&b, ", ");
    add_str(&b, p->names[k]);
  }
  add(&b, "]}");
  return finish(&b, json);
}

int rt_columns_to_json(char *const *names, int n, char **json) {
  buf b = {0};
  add(&b, "[");
  for (int j = 0; j < n; j++) {
    if (j) add(&b, ", ");
    add_str(&b, names[j]);
  }
  add(&b, "]");
  return finish(&b, json);
}

int rt_prep_layout_json(const rt_prep *p, char **json) {
  *json = NULL;
  if (need_fitted(p)) return -1;
  buf b = {0};
  add(&b, "{\"width\": %lld, \"columns\": [", (long long)p->width);
  for (int j = 0; j < p->ncols; j++) {
    const prep_col *c = &p->cols[j];
    for (int64_t k = 0; k < c->width; k++) {
      add(&b, "%s\n  {\"index\": %lld, \"name\": ", c->first + k ? "," : "", (long long)(c->first + k));
      add_str(&b, p->names[c->first + k]);
      add(&b, ", \"source\": ");
      add_str(&b, c->name);
      if (!c->categorical) {
        add(&b, ", \"kind\": \"numeric\"");
        if (c->has_fill) add(&b, ", \"fill\": "), add_float(&b, c->fill);
        if (c->scaled) add(&b, ", \"mean\": "), add_float(&b, c->mean), add(&b, ", \"std\": "), add_float(&b, c->std);
      } else if (k < c->ncats) {
        add(&b, ", \"kind\": \"indicator\", \"category\": ");
        add_str(&b, c->cats[k]);
      } else {
        add(&b, ", \"kind\": \"indicator\", \"category\": null");
      }
      add(&b, "}");
    }
  }
  add(&b, "\n]}\n");
  return finish(&b, json);
}

/* ---- reading --------------------------------------------------------------------------------- */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jkind;

typedef struct jv jv;
struct jv {
  jkind kind;
  double num; /* NUM, BOOL */
  char *s;    /* STR */
  int n;      /* ARR, OBJ */
  jv *items;
  char **keys; /* OBJ */
};

static void jv_free(jv *v) {
  free(v->s);
  for (int i = 0; i < v->n; i++) {
    jv_free(&v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
}

typedef struct {
  const char *p;
  int depth;
} jreader;

static void jws(jreader *r) {
  while (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t') r->p++;
}

static int put_utf8(char *q, unsigned cp) {
  if (cp < 0x80) return q[0] = (char)cp, 1;
  if (cp < 0x800) return q[0] = (char)(0xC0 | cp >> 6), q[1] = (char)(0x80 | (cp & 0x3F)), 2;
  if (cp < 0x10000)
    return q[0] = (char)(0xE0 | cp >> 12), q[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), q[2] = (char)(0x80 | (cp & 0x3F)), 3;
  q[0] = (char)(0xF0 | cp >> 18), q[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  q[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), q[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static int hex4(const char *s, unsigned *out) {
  *out = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
               : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
    if (d == 16) return -1;
    *out = *out * 16 + d;
  }
  return 0;
}

static int jstring(jreader *r, char **out) {
  const char *s = ++r->p;
  size_t n = 0;
  while (*s && *s != '"') s += s[0] == '\\' && s[1] ? 2 : 1, n++;
  if (*s != '"') return -1;
  char *q = *out = malloc(n * 4 + 1); /* \uXXXX gives at most 4 bytes per 6 */
  if (!q) return -1;
  for (s = r->p; *s != '"'; s++) {
    if ((unsigned char)*s < 0x20) return -1;
    if (*s != '\\') {
      *q++ = *s;
      continue;
    }
    s++;
    switch (*s) {
    case '"': case '\\': case '/': *q++ = *s; break;
    case 'b': *q++ = '\b'; break;
    case 'f': *q++ = '\f'; break;
    case 'n': *q++ = '\n'; break;
    case 'r': *q++ = '\r'; break;
    case 't': *q++ = '\t'; break;
    case 'u': {
      unsigned cp, lo;
      if (hex4(s + 1, &cp)) return -1;
      s += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && s[1] == '\\' && s[2] == 'u' && !hex4(s + 3, &lo) && lo >= 0xDC00 &&
          lo < 0xE000) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        s += 6;
      }
      q += put_utf8(q, cp);
      break;
    }
    default: return -1;
    }
  }
  *q = '\0';
  r->p = s + 1;
  return 0;
}

static int jvalue(jreader *r, jv *out) {
  memset(out, 0, sizeof *out);
  jws(r);
  if (++r->depth > 64) return -1;
  int rc = 0;
  if (*r->p == '"') {
    out->kind = J_STR;
    rc = jstring(r, &out->s);
  } else if (*r->p == '[' || *r->p == '{') {
    int obj = *r->p++ == '{';
    out->kind = obj ? J_OBJ : J_ARR;
    jws(r);
    if (*r->p == (obj ? '}' : ']')) {
      r->p++;
    } else {
      for (;;) {
        char *key = NULL;
        if (obj) {
          jws(r);
          if (*r->p != '"' || jstring(r, &key)) {
            free(key);
            return -1;
          }
          jws(r);
          if (*r->p++ != ':') {
            free(key);
            return -1;
          }
        }
        jv *items = realloc(out->items, (size_t)(out->n + 1) * sizeof *items);
        char **keys = items && obj ? realloc(out->keys, (size_t)(out->n + 1) * sizeof *keys) : NULL;
        if (items) out->items = items;
        if (keys) out->keys = keys;
        if (!items || (obj && !keys)) {
          free(key);
          return -1;
        }
        if (obj) out->keys[out->n] = key;
        if (jvalue(r, &out->items[out->n++])) return -1;
        jws(r);
        if (*r->p == ',') {
          r->p++;
          continue;
        }
        if (*r->p++ != (obj ? '}' : ']')) return -1;
        break;
      }
    }
  } else if (!strncmp(r->p, "true", 4) || !strncmp(r->p, "false", 5)) {
    out->kind = J_BOOL;
    out->num = r->p[0] == 't';
    r->p += out->num ? 4 : 5;
  } else if (!strncmp(r->p, "null", 4)) {
    r->p += 4;
  } else {
    const char *e = r->p;
    while (*e && strchr("+-.0123456789eE", *e)) e++;
    out->kind = J_NUM;
    if (e == r->p || rt_parse_number(r->p, (size_t)(e - r->p), &out->num)) return -1;
    r->p = e;
  }
  r->depth--;
  return rc;
}

static const jv *get(const jv *obj, const char *key, jkind kind) {
  if (obj->kind != J_OBJ) return NULL;
  for (int i = 0; i < obj->n; i++)
    if (!strcmp(obj->keys[i], key)) return obj->items[i].kind == kind ? &obj->items[i] : NULL;
  return NULL;
}

static int bad(const char *what) {
  rt_set_error("checkpoint metadata %s: %s", RT_META_PREP, what);
  return -1;
}

/* Fills column j of p from its JSON object. */
static int read_column(rt_prep *p, const jv *o, prep_col *c) {
  const jv *name = get(o, "name", J_STR), *kind = get(o, "kind", J_STR), *missing = get(o, "missing", J_STR);
  if (!name || !kind || !missing) return bad("a column lacks its name, kind or missing-value policy");
  if (!(c->name = prep_strdup(name->s))) return prep_oom();
  if (prep_parse_policy(missing->s, &c->policy)) return -1;
  c->fill_cat = -1;
  c->categorical = !strcmp(kind->s, "categorical");
  if (!c->categorical && strcmp(kind->s, "numeric")) return bad("a column's kind is neither numeric nor categorical");
  if (!c->categorical) {
    const jv *fill = get(o, "fill", J_NUM), *mean = get(o, "mean", J_NUM), *std = get(o, "std", J_NUM);
    if (fill) c->has_fill = 1, c->fill = (float)fill->num;
    if ((mean != NULL) != (std != NULL) || (std && !(std->num > 0)) || (mean != NULL) != (p->standardize != 0))
      return bad("a numeric column's mean and deviation do not match the standardize setting");
    if (mean) c->scaled = 1, c->mean = (float)mean->num, c->std = (float)std->num;
    /* Beyond f32's range they would be inf, which the matrix cannot hold nor JSON save. */
    if (!isfinite(c->fill) || !isfinite(c->mean) || !isfinite(c->std))
      return bad("a numeric column's fill value, mean or deviation is out of range for f32");
    if (c->policy.kind != RT_MISSING_ERROR && !c->has_fill)
      return bad("a numeric column that fills missing values has no fill value");
    return 0;
  }
  const jv *cats = get(o, "categories", J_ARR), *fill = get(o, "fill", J_STR), *na = get(o, "missing_indicator", J_BOOL);
  if (!cats || !na) return bad("a categorical column lacks its categories or missing_indicator");
  if (!(c->cats = calloc((size_t)cats->n + 1, sizeof *c->cats))) return prep_oom();
  for (int k = 0; k < cats->n; k++) {
    if (cats->items[k].kind != J_STR) return bad("a category is not a string");
    if (k && strcmp(cats->items[k - 1].s, cats->items[k].s) >= 0) return bad("categories are not sorted");
    if (!(c->cats[c->ncats++] = prep_strdup(cats->items[k].s))) return prep_oom();
    if (fill && !strcmp(fill->s, cats->items[k].s)) c->fill_cat = k;
  }
  if (fill && c->fill_cat < 0) return bad("a categorical column's fill value is not one of its categories");
  c->na_indicator = na->num != 0;
  return 0;
}

int rt_prep_from_json(rt_prep *p, const char *json) {
  jv root;
  jreader r = {.p = json};
  if (jvalue(&r, &root) || (jws(&r), *r.p)) {
    jv_free(&root);
    return bad("not valid JSON");
  }
  int status = -1;
  const jv *version = get(&root, "version", J_NUM), *missing = get(&root, "missing", J_STR),
           *dummy = get(&root, "dummy_na", J_BOOL), *unseen = get(&root, "unseen", J_STR),
           *standardize = get(&root, "standardize", J_BOOL), *cols = get(&root, "columns", J_ARR),
           *layout = get(&root, "layout", J_ARR);
  if (!version || version->num != 1) {
    bad("not version 1 (written by another dlc?)");
    goto done;
  }
  if (!missing || !dummy || !unseen || !standardize || !cols || !layout ||
      (strcmp(unseen->s, "zeros") && strcmp(unseen->s, "error"))) {
    bad("a setting is missing or malformed");
    goto done;
  }
  prep_clear_settings(p);
  prep_clear_learned(p);
  p->has_settings = 1;
  p->dummy_na = dummy->num != 0;
  p->unseen_zeros = !strcmp(unseen->s, "zeros");
  p->standardize = standardize->num != 0;
  if (prep_parse_policy(missing->s, &p->missing)) goto done;
  int n = cols->n;
  p->cols = calloc((size_t)(n ? n : 1), sizeof *p->cols);
  p->pol_cols = calloc((size_t)(n ? n : 1), sizeof *p->pol_cols);
  p->pols = calloc((size_t)(n ? n : 1), sizeof *p->pols);
  p->cat_cols = calloc((size_t)(n ? n : 1), sizeof *p->cat_cols);
  if (!p->cols || !p->pol_cols || !p->pols || !p->cat_cols) {
    prep_oom();
    goto done;
  }
  for (int j = 0; j < n; j++) {
    prep_col *c = &p->cols[p->ncols++];
    if (cols->items[j].kind != J_OBJ) {
      bad("a column is not an object");
      goto done;
    }
    if (read_column(p, &cols->items[j], c)) goto done;
    /* Each column's policy becomes its own setting, so reading with the loaded
     * preparation accepts exactly what it fills. */
    if (!(p->pol_cols[p->npol] = prep_strdup(c->name)) || prep_policy_copy(&p->pols[p->npol], &c->policy)) {
      prep_oom();
      goto done;
    }
    p->npol++;
    if (c->categorical && !(p->cat_cols[p->ncat++] = prep_strdup(c->name))) {
      prep_oom();
      goto done;
    }
  }
  if (prep_layout(p)) goto done;
  if (layout->n != p->width) {
    bad("the layout does not match the columns");
    goto done;
  }
  for (int64_t k = 0; k < p->width; k++)
    if (layout->items[k].kind != J_STR || strcmp(layout->items[k].s, p->names[k])) {
      bad("the layout does not match the columns");
      goto done;
    }
  p->fitted = 1;
  status = 0;
done:
  jv_free(&root);
  if (status) {
    prep_clear_learned(p);
    prep_clear_settings(p);
  }
  return status;
}

int rt_columns_from_json(const char *json, char ***names, int *n) {
  *names = NULL;
  *n = 0;
  jv root;
  jreader r = {.p = json};
  int ok = !jvalue(&r, &root) && (jws(&r), !*r.p) && root.kind == J_ARR;
  for (int j = 0; ok && j < root.n; j++) ok = root.items[j].kind == J_STR;
  if (!ok) {
    jv_free(&root);
    rt_set_error("checkpoint metadata %s is not a list of column names", RT_META_FEATURES);
    return -1;
  }
  if (!(*names = calloc((size_t)(root.n ? root.n : 1), sizeof **names))) {
    jv_free(&root);
    return prep_oom();
  }
  for (int j = 0; j < root.n; j++) { /* the strings move out of the tree */
    (*names)[j] = root.items[j].s;
    root.items[j].s = NULL;
  }
  *n = root.n;
  jv_free(&root);
  return 0;
}

int rt_prep_from_file(rt_prep *p, rt_st_file *f) {
  const char *json = rt_st_meta_get(f, RT_META_PREP);
  if (!json) return 0;
  return rt_prep_from_json(p, json) ? -1 : 1;
}

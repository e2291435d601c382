/* The preparation's settings, read from the text the model's data source becomes (the
 * frontend writes it canonically, see frontend/settings.c) or from a command line, in the
 * value syntax of rt_settings.h:
 *
 *   policy = error | mean | median | mode | constant(v) | NUMBER (= constant)
 *   missing     = policy | fill([policy,] col = policy, ...)
 *   categorical = column | range | [columns]
 *   dummy_na    = true | false          unseen = error | zeros          standardize = true | false
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep_impl.h"
#include "rt_settings.h"

char *prep_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

int prep_oom(void) {
  rt_set_error("out of memory");
  return -1;
}

/* Where a setting's text came from, to locate errors in it. */
typedef struct {
  const char *what, *src;
} place;

static int fail_at(const place *r, const char *at, const char *message) {
  return rt_val_error(r->what, r->src, at, message);
}

/* ---- policies -------------------------------------------------------------------------- */

void prep_policy_free(rt_missing_policy *m) {
  free(m->text);
  memset(m, 0, sizeof *m);
}

int prep_policy_copy(rt_missing_policy *dst, const rt_missing_policy *src) {
  *dst = *src;
  if (src->text && !(dst->text = prep_strdup(src->text))) return prep_oom();
  return 0;
}

static const char *const policy_names[] = {"", "error", "mean", "median", "mode", "constant"};

void prep_policy_text(const rt_missing_policy *m, char *buf, size_t size) {
  if (m->kind != RT_MISSING_CONSTANT) {
    snprintf(buf, size, "%s", policy_names[m->kind == RT_MISSING_UNSET ? RT_MISSING_ERROR : m->kind]);
    return;
  }
  double v;
  if (rt_parse_number(m->text, strlen(m->text), &v) == 0) {
    snprintf(buf, size, "constant(%s)", m->text);
    return;
  }
  size_t j = (size_t)snprintf(buf, size, "constant(\"");
  for (const char *s = m->text; *s && j + 4 < size; s++) {
    if (*s == '"' || *s == '\\') buf[j++] = '\\';
    buf[j++] = *s;
  }
  snprintf(buf + (j < size ? j : size - 1), size - (j < size ? j : size - 1), "\")");
}

static int policy_from(place *r, const rt_val *v, rt_missing_policy *out) {
  memset(out, 0, sizeof *out);
  if (v->kind == RT_VAL_NUMBER) {
    out->kind = RT_MISSING_CONSTANT;
    out->value = v->num;
    return (out->text = prep_strdup(v->text)) ? 0 : prep_oom();
  }
  if (v->kind == RT_VAL_WORD) {
    for (int k = RT_MISSING_ERROR; k < RT_MISSING_CONSTANT; k++)
      if (!strcmp(v->text, policy_names[k])) {
        out->kind = (rt_missing_kind)k;
        return 0;
      }
    if (!strcmp(v->text, "constant")) {
      return fail_at(r, v->end, "constant needs its value, e.g. constant(0)");
    }
  }
  if (v->kind == RT_VAL_CALL && !strcmp(v->text, "constant")) {
    if (v->n != 1 || (v->keys[0] && strcmp(v->keys[0], "value")) ||
        (v->items[0].kind != RT_VAL_NUMBER && v->items[0].kind != RT_VAL_STRING && v->items[0].kind != RT_VAL_WORD)) {
      return fail_at(r, v->start, "constant takes one value: a number, or a category in quotes");
    }
    out->kind = RT_MISSING_CONSTANT;
    out->value = v->items[0].kind == RT_VAL_NUMBER ? v->items[0].num : NAN;
    return (out->text = prep_strdup(v->items[0].text)) ? 0 : prep_oom();
  }
  return fail_at(r, v->start, "a missing-value policy is error, mean, median, mode or constant(v)");
}

int prep_parse_policy(const char *text, rt_missing_policy *out) {
  rt_val v;
  if (rt_val_parse("missing-value policy", text, &v)) return -1;
  place r = {.what = "missing-value policy", .src = text};
  int rc = policy_from(&r, &v, out);
  rt_val_free(&v);
  return rc;
}

const rt_missing_policy *prep_policy_for(const rt_prep *p, const char *col) {
  static const rt_missing_policy error = {.kind = RT_MISSING_ERROR};
  for (int i = 0; i < p->npol; i++)
    if (!strcmp(p->pol_cols[i], col)) return &p->pols[i];
  return p->missing.kind == RT_MISSING_UNSET ? &error : &p->missing;
}

int prep_is_categorical(const rt_prep *p, const char *col) {
  for (int i = 0; i < p->ncat; i++)
    if (!strcmp(p->cat_cols[i], col)) return 1;
  return 0;
}

/* ---- settings ------------------------------------------------------------------------------ */

rt_prep *rt_prep_new(void) {
  rt_prep *p = calloc(1, sizeof *p);
  if (!p) prep_oom();
  return p;
}

void prep_clear_settings(rt_prep *p) {
  prep_policy_free(&p->missing);
  for (int i = 0; i < p->npol; i++) {
    free(p->pol_cols[i]);
    prep_policy_free(&p->pols[i]);
  }
  free(p->pol_cols);
  free(p->pols);
  for (int i = 0; i < p->ncat; i++) free(p->cat_cols[i]);
  free(p->cat_cols);
  p->pol_cols = p->cat_cols = NULL;
  p->pols = NULL;
  p->npol = p->ncat = p->has_settings = p->dummy_na = p->unseen_zeros = p->standardize = 0;
}

void rt_prep_free(rt_prep *p) {
  if (!p) return;
  prep_clear_settings(p);
  prep_clear_learned(p);
  free(p);
}

int rt_prep_is_key(const char *key) {
  static const char *const keys[] = {"missing", "categorical", "dummy_na", "unseen", "standardize"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (!strcmp(key, keys[i])) return 1;
  return 0;
}

static int want_bool(place *r, const rt_val *v, const char *key, int *out) {
  if (v->kind == RT_VAL_WORD && (!strcmp(v->text, "true") || !strcmp(v->text, "false"))) {
    *out = v->text[0] == 't';
    return 0;
  }
  if (v->kind == RT_VAL_NUMBER && (v->num == 0 || v->num == 1)) {
    *out = v->num == 1;
    return 0;
  }
  char msg[80];
  snprintf(msg, sizeof msg, "%s must be true or false", key);
  return fail_at(r, v->start, msg);
}

static int set_missing(rt_prep *p, place *r, const rt_val *v) {
  rt_missing_policy all = {0};
  int npol = 0;
  char **cols = NULL;
  rt_missing_policy *pols = NULL;
  if (v->kind != RT_VAL_CALL || strcmp(v->text, "fill")) {
    if (policy_from(r, v, &all)) return -1;
  } else {
    if (v->n && (!(cols = calloc((size_t)v->n, sizeof *cols)) || !(pols = calloc((size_t)v->n, sizeof *pols)))) {
      free(cols);
      return prep_oom();
    }
    for (int i = 0; i < v->n; i++) {
      rt_missing_policy m;
      if (policy_from(r, &v->items[i], &m)) goto bad;
      if (!v->keys[i]) {
        if (i > 0 || all.kind) {
          prep_policy_free(&m);
          fail_at(r, v->items[i].start,
                  "fill(...) takes the policy for every other column first, then column = policy");
          goto bad;
        }
        all = m;
        continue;
      }
      for (int j = 0; j < npol; j++)
        if (!strcmp(cols[j], v->keys[i])) {
          prep_policy_free(&m);
          rt_set_error("missing: column '%s' has two policies", v->keys[i]);
          goto bad;
        }
      if (!(cols[npol] = prep_strdup(v->keys[i]))) {
        prep_policy_free(&m);
        prep_oom();
        goto bad;
      }
      pols[npol++] = m;
    }
  }
  for (int i = 0; i < p->npol; i++) {
    free(p->pol_cols[i]);
    prep_policy_free(&p->pols[i]);
  }
  free(p->pol_cols);
  free(p->pols);
  prep_policy_free(&p->missing);
  p->missing = all;
  p->pol_cols = cols;
  p->pols = pols;
  p->npol = npol;
  return 0;
bad:
  for (int i = 0; i < npol; i++) {
    free(cols[i]);
    prep_policy_free(&pols[i]);
  }
  free(cols);
  free(pols);
  prep_policy_free(&all);
  return -1;
}

static int set_categorical(rt_prep *p, place *r, const rt_val *v) {
  const rt_val *items = v->kind == RT_VAL_LIST ? v->items : v;
  int n = v->kind == RT_VAL_LIST ? v->n : 1;
  char **cols = calloc((size_t)(n ? n : 1), sizeof *cols);
  if (!cols) return prep_oom();
  for (int i = 0; i < n; i++) {
    if (items[i].kind != RT_VAL_WORD && items[i].kind != RT_VAL_STRING && items[i].kind != RT_VAL_NUMBER) {
      fail_at(r, items[i].start, "categorical names columns: categorical = [alley, zone]");
      goto bad;
    }
    if (!(cols[i] = prep_strdup(items[i].text))) {
      prep_oom();
      goto bad;
    }
  }
  for (int i = 0; i < p->ncat; i++) free(p->cat_cols[i]);
  free(p->cat_cols);
  p->cat_cols = cols;
  p->ncat = n;
  return 0;
bad:
  for (int i = 0; i < n; i++) free(cols[i]);
  free(cols);
  return -1;
}

/* One setting from a parsed value; r locates errors in the source text. */
static int set_value(rt_prep *p, place *r, const char *key, const rt_val *v) {
  int rc;
  if (!strcmp(key, "missing")) {
    rc = set_missing(p, r, v);
  } else if (!strcmp(key, "categorical")) {
    rc = set_categorical(p, r, v);
  } else if (!strcmp(key, "dummy_na")) {
    rc = want_bool(r, v, key, &p->dummy_na);
  } else if (!strcmp(key, "standardize")) {
    return want_bool(r, v, key, &p->standardize); /* not a preparation of its own */
  } else if (!strcmp(key, "unseen")) {
    rc = 0;
    if (v->kind == RT_VAL_WORD && (!strcmp(v->text, "zeros") || !strcmp(v->text, "error"))) {
      p->unseen_zeros = v->text[0] == 'z';
    } else {
      rc = fail_at(r, v->start, "unseen must be error (the default) or zeros");
    }
  } else {
    rt_set_error("unknown data preparation setting '%s' (known: missing, categorical, dummy_na, unseen, "
                 "standardize)", key);
    return -1;
  }
  if (rc == 0) p->has_settings = 1;
  return rc;
}

int rt_prep_set(rt_prep *p, const char *key, const char *value) {
  char what[64];
  snprintf(what, sizeof what, "%s =", key);
  rt_val v;
  if (rt_val_parse(what, value, &v)) return -1;
  place r = {.what = what, .src = value};
  int rc = set_value(p, &r, key, &v);
  rt_val_free(&v);
  return rc;
}

int rt_prep_take_source(rt_prep *p, const char *source, char **rest) {
  *rest = NULL;
  rt_val v;
  if (rt_val_parse("data source", source, &v)) return -1;
  place r = {.what = "data source", .src = source};
  /* Kept arguments are written back ", "-separated: each may grow by the space after
   * its comma (`csv(a,b,c)` becomes `csv(a, b, c)`), and there are fewer of them than
   * bytes in the source. */
  size_t cap = 2 * strlen(source) + 1, len = 0;
  char *out = malloc(cap);
  int status = -1;
  if (!out) {
    prep_oom();
    goto done;
  }
  if (v.kind != RT_VAL_CALL) { /* a bare source name ("none"): nothing to take */
    memcpy(out, source, strlen(source) + 1);
    status = 0;
    goto done;
  }
  len = (size_t)snprintf(out, cap, "%s(", v.text);
  int kept = 0;
  for (int i = 0; i < v.n; i++) {
    const char *key = v.keys[i];
    if (key && rt_prep_is_key(key)) {
      if (set_value(p, &r, key, &v.items[i])) goto done;
      if (strcmp(key, "standardize")) continue;
    }
    /* Kept as written: "key=" and the value's own text. */
    int n = key ? snprintf(out + len, cap - len, "%s%s=%.*s", kept ? ", " : "", key,
                           (int)(v.items[i].end - v.items[i].start), v.items[i].start)
                : snprintf(out + len, cap - len, "%s%.*s", kept ? ", " : "",
                           (int)(v.items[i].end - v.items[i].start), v.items[i].start);
    len += (size_t)n;
    kept++;
  }
  snprintf(out + len, cap - len, ")");
  status = 0;
done:
  rt_val_free(&v);
  if (status)
    free(out);
  else
    *rest = out;
  return status;
}

int rt_prep_active(const rt_prep *p) { return p && p->has_settings; }

int rt_prep_settings_text(const rt_prep *p, char *buf, size_t size) {
  size_t len = 0;
  char pol[256];
#define ADD(...)                                                                     \
  do {                                                                               \
    int n_ = snprintf(buf + len, len < size ? size - len : 0, __VA_ARGS__);          \
    if (n_ > 0) len += (size_t)n_;                                                   \
  } while (0)
  if (size) buf[0] = '\0';
  prep_policy_text(&p->missing, pol, sizeof pol);
  if (p->npol) {
    ADD("missing = fill(");
    if (p->missing.kind != RT_MISSING_UNSET) ADD("%s, ", pol);
    for (int i = 0; i < p->npol; i++) {
      prep_policy_text(&p->pols[i], pol, sizeof pol);
      ADD("%s%s = %s", i ? ", " : "", p->pol_cols[i], pol);
    }
    ADD(")");
  } else {
    ADD("missing = %s", pol);
  }
  if (p->ncat) {
    ADD(", categorical = [");
    for (int i = 0; i < p->ncat; i++) ADD("%s%s", i ? ", " : "", p->cat_cols[i]);
    ADD("]");
  }
  if (p->dummy_na) ADD(", dummy_na = true");
  if (p->unseen_zeros) ADD(", unseen = zeros");
  if (p->standardize) ADD(", standardize = true");
#undef ADD
  if (len >= size) {
    rt_set_error("the preparation's settings do not fit in %zu bytes", size);
    return -1;
  }
  return 0;
}

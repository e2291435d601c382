/* Data sources: the text of a model's `data` entry (and a data file named on the command
 * line) turned into an rt_data_spec.
 *
 * The text is a call in the syntax of rt_settings.h, as the model language writes it and the
 * frontend canonicalises it: csv(path, features = [...], label = NAME), npy(features, labels),
 * synthetic_linreg(w = [...], b, n, noise = X, seed = S), or the bare name none. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* strdup, when built outside CMake (train.so) */
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_settings.h"
#include "rt_train.h"

/* A data source under interpretation: its call and its text (for messages). */
typedef struct {
  const char *src;
  const rt_val *call;
} source;

/* The argument called one of `keys` (a '|'-separated list), or positional number `pos`
 * (-1: none). Marks it used. */
static const rt_val *get_arg(const source *r, int *used, const char *keys, int pos) {
  int npos = 0;
  for (int i = 0; i < r->call->n; i++) {
    const char *key = r->call->keys[i];
    if (key) {
      const char *k = keys;
      size_t len = strlen(key);
      while (*k) {
        const char *e = strchr(k, '|');
        size_t kl = e ? (size_t)(e - k) : strlen(k);
        if (kl == len && !strncmp(k, key, len)) {
          used[i] = 1;
          return &r->call->items[i];
        }
        k += kl + (e != NULL);
      }
    } else if (npos++ == pos) {
      used[i] = 1;
      return &r->call->items[i];
    }
  }
  return NULL;
}

static int want_string(const source *r, const rt_val *v, const char *what, char **out) {
  if (v->kind != RT_VAL_STRING && v->kind != RT_VAL_WORD) {
    rt_set_error("data source \"%s\": %s must be a string", r->src, what);
    return -1;
  }
  if (!(*out = strdup(v->text))) {
    rt_set_error("out of memory");
    return -1;
  }
  return 0;
}

static int want_number(const source *r, const rt_val *v, const char *what, double *out) {
  if (v->kind != RT_VAL_NUMBER) {
    rt_set_error("data source \"%s\": %s must be a number", r->src, what);
    return -1;
  }
  *out = v->num;
  return 0;
}

static int want_bool(const source *r, const rt_val *v, const char *what, int *out) {
  if (v->kind == RT_VAL_WORD && (!strcmp(v->text, "true") || !strcmp(v->text, "false"))) {
    *out = v->text[0] == 't';
    return 0;
  }
  if (v->kind == RT_VAL_NUMBER && (v->num == 0 || v->num == 1)) {
    *out = v->num == 1;
    return 0;
  }
  rt_set_error("data source \"%s\": %s must be true or false", r->src, what);
  return -1;
}

static int interpret_csv(const source *r, int *used, rt_data_spec *s) {
  s->kind = RT_SOURCE_CSV;
  const rt_val *v = get_arg(r, used, "path", 0);
  if (!v) {
    rt_set_error("data source \"%s\": csv(...) needs the file's path", r->src);
    return -1;
  }
  if (want_string(r, v, "the path", &s->path)) return -1;
  if ((v = get_arg(r, used, "features", 1))) {
    const rt_val *items = v->kind == RT_VAL_LIST ? v->items : v;
    int n = v->kind == RT_VAL_LIST ? v->n : 1;
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

static int interpret_synthetic(const source *r, int *used, rt_data_spec *s) {
  s->kind = RT_SOURCE_SYNTHETIC;
  s->noise = 0.01;
  s->n = 1000;
  const rt_val *v = get_arg(r, used, "w", 0);
  if (!v || v->kind != RT_VAL_LIST || v->n == 0) {
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

static int interpret_npy(const source *r, int *used, rt_data_spec *s) {
  s->kind = RT_SOURCE_NPY;
  /* npy(features=x.npy, labels=y.npy): kept as "x.npy,y.npy", one file per model input */
  const rt_val *x = get_arg(r, used, "features", 0), *y = get_arg(r, used, "labels", 1);
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
  rt_val call;
  if (rt_val_parse("data source", text, &call)) return -1;
  int *used = NULL, status = -1;
  source r = {.src = text, .call = &call};
  const char *name = call.text;
  if (call.kind != RT_VAL_CALL && call.kind != RT_VAL_WORD) {
    rt_val_error("data source", text, text, "expected the name of a data source");
    goto done;
  }
  if (!(used = calloc((size_t)call.n + 1, sizeof *used))) {
    rt_set_error("out of memory");
    goto done;
  }
  if (!strcmp(name, "csv")) {
    if (interpret_csv(&r, used, out)) goto done;
  } else if (!strcmp(name, "npy")) {
    if (interpret_npy(&r, used, out)) goto done;
  } else if (!strcmp(name, "synthetic_linreg")) {
    if (interpret_synthetic(&r, used, out)) goto done;
  } else if (!strcmp(name, "none")) {
    out->kind = RT_SOURCE_NONE;
  } else {
    rt_set_error("data source \"%s\": unknown source '%s' (dlc knows csv, npy and synthetic_linreg)", text, name);
    goto done;
  }
  const rt_val *v = get_arg(&r, used, "standardize", -1);
  if (v && want_bool(&r, v, "standardize", &out->standardize)) goto done;
  for (int i = 0; i < call.n; i++)
    if (!used[i]) {
      if (call.keys[i])
        rt_set_error("data source \"%s\": %s(...) has no setting '%s'", text, name, call.keys[i]);
      else
        rt_set_error("data source \"%s\": too many arguments for %s(...)", text, name);
      goto done;
    }
  status = 0;
done:
  free(used);
  rt_val_free(&call);
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
    if (base->nfeatures && rt_data_spec_name_features(out, (const char *const *)base->features, base->nfeatures)) {
      rt_data_spec_free(out);
      return -1;
    }
  }
  return 0;
oom:
  rt_data_spec_free(out);
  rt_set_error("out of memory");
  return -1;
}

int rt_data_spec_name_features(rt_data_spec *s, const char *const *names, int n) {
  char **copy = calloc((size_t)n + 1, sizeof *copy);
  for (int i = 0; copy && i < n; i++)
    if (!(copy[i] = strdup(names[i]))) {
      while (i--) free(copy[i]);
      free(copy);
      copy = NULL;
    }
  if (!copy) {
    rt_set_error("out of memory");
    return -1;
  }
  for (int i = 0; i < s->nfeatures; i++) free(s->features[i]);
  free(s->features);
  s->features = copy;
  s->nfeatures = n;
  return 0;
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
  if (p[0] == '/' || !dir || !dir[0]) return strndup(p, plen);
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

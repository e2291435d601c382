/* Parameter initialisers: a spec string such as "normal(0, 0.01)" or "kaiming_uniform"
 * parsed against one table (name, arguments, defaults), then a tensor filled from a
 * seeded stream. Formulas and fan conventions follow torch.nn.init, with dlc's dense
 * weight layout [in, out] (PyTorch's Linear stores [out, in]). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rt.h"

enum { ARG_NUMBER, ARG_MODE }; /* ARG_MODE: fan_in (0) or fan_out (1) */

typedef struct {
  const char *name;
  int nargs;
  const char *argnames[3];
  double defaults[3];
  int nrequired; /* leading arguments without a default */
  int argkind[3];
} init_row;

static const init_row init_table[RT_INIT_COUNT] = {
    [RT_INIT_ZEROS] = {"zeros", 0, {0}, {0}, 0, {0}},
    [RT_INIT_ONES] = {"ones", 0, {0}, {0}, 0, {0}},
    [RT_INIT_CONSTANT] = {"constant", 1, {"value"}, {0}, 1, {ARG_NUMBER}},
    [RT_INIT_UNIFORM] = {"uniform", 2, {"a", "b"}, {0, 1}, 0, {ARG_NUMBER, ARG_NUMBER}},
    [RT_INIT_NORMAL] = {"normal", 2, {"mean", "std"}, {0, 1}, 0, {ARG_NUMBER, ARG_NUMBER}},
    [RT_INIT_XAVIER_UNIFORM] = {"xavier_uniform", 1, {"gain"}, {1}, 0, {ARG_NUMBER}},
    [RT_INIT_XAVIER_NORMAL] = {"xavier_normal", 1, {"gain"}, {1}, 0, {ARG_NUMBER}},
    [RT_INIT_KAIMING_UNIFORM] = {"kaiming_uniform", 2, {"a", "mode"}, {0, 0}, 0, {ARG_NUMBER, ARG_MODE}},
    [RT_INIT_KAIMING_NORMAL] = {"kaiming_normal", 2, {"a", "mode"}, {0, 0}, 0, {ARG_NUMBER, ARG_MODE}},
};

/* Other names people use for the same initialisers (Keras, papers). */
static const struct {
  const char *alias;
  rt_init_kind kind;
} init_aliases[] = {
    {"glorot_uniform", RT_INIT_XAVIER_UNIFORM}, {"glorot_normal", RT_INIT_XAVIER_NORMAL},
    {"he_uniform", RT_INIT_KAIMING_UNIFORM},    {"he_normal", RT_INIT_KAIMING_NORMAL},
    {"zero", RT_INIT_ZEROS},                     {"one", RT_INIT_ONES},
};

/* Fills both the caller's buffer and the thread's last error. */
static int init_error(char *errbuf, const char *spec, const char *fmt, ...) RT_PRINTF(3, 4);
static int init_error(char *errbuf, const char *spec, const char *fmt, ...) {
  char msg[RT_ERR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  rt_set_error("bad initialiser \"%s\": %s", spec, msg);
  if (errbuf) snprintf(errbuf, RT_ERR_MAX, "%s", dlc_last_error());
  return -1;
}

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t') p++;
  return p;
}

static int is_ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static int is_ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* What the user most likely meant, for an unknown name. */
static const char *closest_initialiser(const char *name) {
  const char *names[RT_INIT_COUNT];
  for (int k = 0; k < RT_INIT_COUNT; k++) names[k] = init_table[k].name;
  return rt_closest_name(name, names, RT_INIT_COUNT);
}

/* spec = name [ "(" [ arg { "," arg } ] ")" ]
 * arg  = [ argname "=" ] ( number | "fan_in" | "fan_out" ) */
int rt_init_parse(const char *spec, rt_init_spec *out, char *errbuf) {
  if (!spec) return init_error(errbuf, "", "no initialiser given");
  const char *p = skip_ws(spec);
  if (!is_ident_start(*p)) {
    if (!*p) return init_error(errbuf, spec, "empty");
    return init_error(errbuf, spec, "expected an initialiser name at column %d", (int)(p - spec) + 1);
  }
  const char *name = p;
  while (is_ident_char(*p)) p++;
  size_t namelen = (size_t)(p - name);
  char namebuf[64];
  snprintf(namebuf, sizeof namebuf, "%.*s", (int)(namelen < 63 ? namelen : 63), name);

  int kind = -1;
  for (int k = 0; k < RT_INIT_COUNT && kind < 0; k++)
    if (strlen(init_table[k].name) == namelen && !memcmp(init_table[k].name, name, namelen)) kind = k;
  for (size_t a = 0; a < sizeof init_aliases / sizeof init_aliases[0] && kind < 0; a++)
    if (strlen(init_aliases[a].alias) == namelen && !memcmp(init_aliases[a].alias, name, namelen))
      kind = (int)init_aliases[a].kind;
  if (kind < 0) {
    /* "xavier" is most likely one of the two xavier_* initialisers: list them. */
    const char *pre[2] = {NULL, NULL};
    int npre = 0;
    for (int k = 0; k < RT_INIT_COUNT; k++)
      if (namelen >= 3 && !strncmp(init_table[k].name, namebuf, namelen) && npre < 2) pre[npre++] = init_table[k].name;
    if (npre == 2)
      return init_error(errbuf, spec, "unknown initialiser '%s'; did you mean '%s' or '%s'?", namebuf, pre[0], pre[1]);
    const char *hint = npre == 1 ? pre[0] : closest_initialiser(namebuf);
    if (hint) return init_error(errbuf, spec, "unknown initialiser '%s'; did you mean '%s'?", namebuf, hint);
    return init_error(errbuf, spec,
                      "unknown initialiser '%s' (known: zeros, ones, constant, uniform, normal, "
                      "xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal)",
                      namebuf);
  }
  const init_row *row = &init_table[kind];
  rt_init_spec r = {.kind = (rt_init_kind)kind};
  int given[3] = {0, 0, 0};
  for (int a = 0; a < row->nargs; a++) r.arg[a] = row->defaults[a];

  p = skip_ws(p);
  if (*p == '(') {
    p = skip_ws(p + 1);
    int positional = 0, seen_keyword = 0;
    while (*p != ')') {
      /* Which argument: a keyword "name =" or the next positional one. */
      int idx = -1;
      const char *q = p;
      if (is_ident_start(*q)) {
        while (is_ident_char(*q)) q++;
        const char *eq = skip_ws(q);
        if (*eq == '=') {
          for (int a = 0; a < row->nargs; a++)
            if (strlen(row->argnames[a]) == (size_t)(q - p) && !memcmp(row->argnames[a], p, (size_t)(q - p)))
              idx = a;
          if (idx < 0) {
            char kw[64];
            snprintf(kw, sizeof kw, "%.*s", (int)((q - p) < 63 ? (q - p) : 63), p);
            if (row->nargs == 0)
              return init_error(errbuf, spec, "%s takes no arguments", row->name);
            const char *hint = rt_closest_name(kw, row->argnames, row->nargs);
            return init_error(errbuf, spec, "%s has no argument '%s'%s%s%s", row->name, kw,
                              hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
          }
          seen_keyword = 1;
          p = skip_ws(eq + 1);
        }
      }
      if (idx < 0) {
        if (seen_keyword)
          return init_error(errbuf, spec, "positional argument after a keyword argument at column %d",
                            (int)(p - spec) + 1);
        if (positional >= row->nargs) {
          if (row->nargs == 0) return init_error(errbuf, spec, "%s takes no arguments", row->name);
          return init_error(errbuf, spec, "%s takes at most %d argument%s", row->name, row->nargs,
                            row->nargs == 1 ? "" : "s");
        }
        idx = positional++;
      }
      if (given[idx])
        return init_error(errbuf, spec, "argument '%s' given twice", row->argnames[idx]);
      given[idx] = 1;

      /* The value: up to the next ',' or ')' or space. */
      const char *v = p;
      while (*p && *p != ',' && *p != ')' && *p != ' ' && *p != '\t') p++;
      size_t vlen = (size_t)(p - v);
      if (vlen == 0) {
        if (!*p) return init_error(errbuf, spec, "missing ')'");
        return init_error(errbuf, spec, "expected a value for '%s' at column %d", row->argnames[idx],
                          (int)(v - spec) + 1);
      }
      if (row->argkind[idx] == ARG_MODE) {
        if (vlen == 6 && !memcmp(v, "fan_in", 6)) r.arg[idx] = 0;
        else if (vlen == 7 && !memcmp(v, "fan_out", 7)) r.arg[idx] = 1;
        else
          return init_error(errbuf, spec, "'%s' must be fan_in or fan_out, not '%.*s'", row->argnames[idx],
                            (int)vlen, v);
      } else {
        double d;
        if (rt_parse_number(v, vlen, &d) != 0)
          return init_error(errbuf, spec, "'%.*s' is not a number (argument '%s' at column %d)", (int)vlen, v,
                            row->argnames[idx], (int)(v - spec) + 1);
        if (!isfinite(d))
          return init_error(errbuf, spec, "'%.*s' is out of range (argument '%s')", (int)vlen, v,
                            row->argnames[idx]);
        r.arg[idx] = d;
      }
      p = skip_ws(p);
      if (*p == ',') {
        p = skip_ws(p + 1);
        if (*p == ')') return init_error(errbuf, spec, "expected an argument after ',' at column %d",
                                         (int)(p - spec) + 1);
      } else if (*p != ')') {
        if (!*p) return init_error(errbuf, spec, "missing ')'");
        return init_error(errbuf, spec, "expected ',' or ')' at column %d, found '%c'", (int)(p - spec) + 1, *p);
      }
    }
    p = skip_ws(p + 1);
  }
  if (*p)
    return init_error(errbuf, spec, "unexpected '%c' at column %d", *p, (int)(p - spec) + 1);
  for (int a = 0; a < row->nrequired; a++)
    if (!given[a]) return init_error(errbuf, spec, "%s needs its argument '%s', e.g. %s(0.1)", row->name,
                                     row->argnames[a], row->name);

  switch (r.kind) {
  case RT_INIT_UNIFORM:
    if (r.arg[0] > r.arg[1])
      return init_error(errbuf, spec, "uniform needs a <= b, got a = %g, b = %g", r.arg[0], r.arg[1]);
    break;
  case RT_INIT_NORMAL:
    if (r.arg[1] < 0) return init_error(errbuf, spec, "std must be >= 0, got %g", r.arg[1]);
    break;
  case RT_INIT_XAVIER_UNIFORM:
  case RT_INIT_XAVIER_NORMAL:
    if (r.arg[0] < 0) return init_error(errbuf, spec, "gain must be >= 0, got %g", r.arg[0]);
    break;
  default: break;
  }
  *out = r;
  return 0;
}

int rt_init_check(const char *spec, char *errbuf) {
  rt_init_spec s;
  return rt_init_parse(spec, &s, errbuf);
}

void rt_init_fans(int rank, const int64_t *shape, double *fan_in, double *fan_out) {
  if (rank <= 0) {
    *fan_in = *fan_out = 1;
  } else if (rank == 1) {
    *fan_in = *fan_out = (double)shape[0];
  } else {
    double receptive = 1;
    for (int i = 0; i < rank - 2; i++) receptive *= (double)shape[i];
    *fan_in = (double)shape[rank - 2] * receptive;
    *fan_out = (double)shape[rank - 1] * receptive;
  }
}

static void fill_constant(const dlc_tensor *t, int64_t n, double v) {
  if (t->dtype == DLC_F32) {
    float *d = t->data;
    for (int64_t i = 0; i < n; i++) d[i] = (float)v;
  } else if (t->dtype == DLC_F64) {
    double *d = t->data;
    for (int64_t i = 0; i < n; i++) d[i] = v;
  } else if (t->dtype == DLC_I32) {
    int32_t *d = t->data;
    for (int64_t i = 0; i < n; i++) d[i] = (int32_t)v;
  } else if (t->dtype == DLC_I64) {
    int64_t *d = t->data;
    for (int64_t i = 0; i < n; i++) d[i] = (int64_t)v;
  } else {
    memset(t->data, v != 0, (size_t)n);
  }
}

/* Fills a float tensor with lo + (hi - lo) * U[0,1) or mean + std * N(0,1). */
static void fill_random(const dlc_tensor *t, int64_t n, rt_rng *rng, int normal, double a, double b) {
  for (int64_t i = 0; i < n; i++) {
    double v = normal ? a + b * rt_rng_normal(rng) : a + (b - a) * rt_rng_uniform(rng);
    if (t->dtype == DLC_F32) ((float *)t->data)[i] = (float)v;
    else ((double *)t->data)[i] = v;
  }
}

int rt_init_fill(const rt_init_spec *spec, const dlc_tensor *t, rt_rng *rng) {
  const char *name = t->name ? t->name : "?";
  int64_t n = rt_numel(t->rank, t->shape);
  if (n < 0 || rt_dtype_size(t->dtype) == 0) {
    rt_set_error("cannot initialise '%s': invalid dtype or shape", name);
    return -1;
  }
  if (n > 0 && !t->data) {
    rt_set_error("cannot initialise '%s': no data", name);
    return -1;
  }
  const char *kind_name = init_table[spec->kind].name;
  int is_float = t->dtype == DLC_F32 || t->dtype == DLC_F64;
  if (spec->kind == RT_INIT_ZEROS || spec->kind == RT_INIT_ONES || spec->kind == RT_INIT_CONSTANT) {
    double v = spec->kind == RT_INIT_ZEROS ? 0 : spec->kind == RT_INIT_ONES ? 1 : spec->arg[0];
    if (!is_float) {
      double lo = t->dtype == DLC_I32 ? -2147483648.0 : t->dtype == DLC_I64 ? -9223372036854775808.0 : 0;
      double hi = t->dtype == DLC_I32 ? 2147483647.0 : t->dtype == DLC_I64 ? 9223372036854775807.0 : 1;
      if (v != floor(v) || v < lo || v >= hi + 1) {
        rt_set_error("cannot initialise %s tensor '%s' with %s(%g): not a valid %s value", rt_dtype_name(t->dtype),
                     name, kind_name, v, rt_dtype_name(t->dtype));
        return -1;
      }
    }
    fill_constant(t, n, v);
    return 0;
  }
  if (!is_float) {
    rt_set_error("initialiser %s needs a floating-point tensor, but '%s' is %s", kind_name, name,
                 rt_dtype_name(t->dtype));
    return -1;
  }
  if (n == 0) return 0;
  double fan_in, fan_out;
  rt_init_fans(t->rank, t->shape, &fan_in, &fan_out);
  const double *arg = spec->arg;
  switch (spec->kind) {
  case RT_INIT_UNIFORM: fill_random(t, n, rng, 0, arg[0], arg[1]); break;
  case RT_INIT_NORMAL: fill_random(t, n, rng, 1, arg[0], arg[1]); break;
  case RT_INIT_XAVIER_UNIFORM: {
    double bound = arg[0] * sqrt(6.0 / (fan_in + fan_out));
    fill_random(t, n, rng, 0, -bound, bound);
    break;
  }
  case RT_INIT_XAVIER_NORMAL: fill_random(t, n, rng, 1, 0, arg[0] * sqrt(2.0 / (fan_in + fan_out))); break;
  case RT_INIT_KAIMING_UNIFORM:
  case RT_INIT_KAIMING_NORMAL: {
    /* torch.nn.init.calculate_gain('leaky_relu', a) = sqrt(2 / (1 + a^2)); a = 0 is ReLU. */
    double gain = sqrt(2.0 / (1.0 + arg[0] * arg[0]));
    double fan = arg[1] != 0 ? fan_out : fan_in;
    double std = gain / sqrt(fan);
    if (spec->kind == RT_INIT_KAIMING_NORMAL) fill_random(t, n, rng, 1, 0, std);
    else fill_random(t, n, rng, 0, -sqrt(3.0) * std, sqrt(3.0) * std);
    break;
  }
  default:
    rt_set_error("cannot initialise '%s': unknown initialiser kind %d", name, (int)spec->kind);
    return -1;
  }
  return 0;
}

int rt_init_tensor(const char *spec, const dlc_tensor *t, uint64_t seed) {
  rt_init_spec s = {.kind = RT_INIT_ZEROS};
  if (spec && rt_init_parse(spec, &s, NULL) != 0) return -1;
  rt_rng rng;
  rt_rng_seed_stream(&rng, seed, rt_stream_id(t->name ? t->name : ""));
  return rt_init_fill(&s, t, &rng);
}

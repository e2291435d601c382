/* Data sets in memory: one row-major array per model input, read from a data source
 * (CSV, .npy, the synthetic generator) and checked against the model's inputs, then
 * split, gathered into batches and standardised.
 *
 * The model says what the arrays must be: its first input takes the features, its
 * second (if any) the labels, and each input's shape after the batch axis gives the
 * width of a row. A mismatch is an error that names the file and the input, never a
 * silent reshape. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* strdup, when built outside CMake (train.so) */
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_prep.h"
#include "rt_train.h"

void rt_data_free(rt_dataset *d) {
  for (int a = 0; a < d->narrays; a++) {
    free(d->arrays[a].name);
    free(d->arrays[a].data);
  }
  for (int j = 0; j < d->nfeatures && d->feature_names; j++) free(d->feature_names[j]);
  free(d->feature_names);
  memset(d, 0, sizeof *d);
  d->label = -1;
}

static int oom(void) {
  rt_set_error("out of memory");
  return -1;
}

/* Elements per row of input i: its shape after the batch axis. */
static int input_width(const dlc_model_desc *desc, int i, int64_t *width) {
  const dlc_tensor_desc *t = &desc->inputs[i];
  char shape[96];
  if (t->rank < 1 || t->shape[0] != desc->batch) {
    rt_set_error("the model's input '%s' (%s %s) has no batch axis first, so dlc cannot feed it rows",
                 t->name, rt_dtype_name(t->dtype), rt_shape_str(t->rank, t->shape, shape, sizeof shape));
    return -1;
  }
  int64_t n = rt_numel(t->rank - 1, t->shape + 1);
  if (n < 1) {
    rt_set_error("the model's input '%s' has an empty or invalid shape", t->name);
    return -1;
  }
  *width = n;
  return 0;
}

/* Sets up out->arrays for desc's inputs, with room for `rows` rows each. */
static int alloc_arrays(const dlc_model_desc *desc, int64_t rows, rt_dataset *out) {
  memset(out, 0, sizeof *out);
  out->label = desc->ninputs >= 2 ? desc->ninputs - 1 : -1;
  if (desc->ninputs < 1 || desc->ninputs > RT_DATA_MAX_ARRAYS) {
    rt_set_error("dlc can feed models with 1 to %d inputs, not %d", RT_DATA_MAX_ARRAYS, desc->ninputs);
    return -1;
  }
  out->rows = rows;
  out->narrays = desc->ninputs;
  for (int i = 0; i < desc->ninputs; i++) {
    rt_data_array *a = &out->arrays[i];
    a->dtype = desc->inputs[i].dtype;
    if (input_width(desc, i, &a->width)) return -1;
    size_t es = rt_dtype_size(a->dtype);
    if (es == 0) {
      rt_set_error("the model's input '%s' has an unknown dtype", desc->inputs[i].name);
      return -1;
    }
    a->name = strdup(desc->inputs[i].name);
    a->data = calloc((size_t)(rows * a->width), es);
    if (!a->name || !a->data) return oom();
  }
  return 0;
}

/* dst[i] = src[i] as dst_dtype, for a float or integer source; integers must fit. */
static int convert(const char *what, int src_dtype, const void *src, int dst_dtype, void *dst, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double v;
    switch (src_dtype) {
    case DLC_F32: v = ((const float *)src)[i]; break;
    case DLC_F64: v = ((const double *)src)[i]; break;
    case DLC_I32: v = ((const int32_t *)src)[i]; break;
    case DLC_I64: v = (double)((const int64_t *)src)[i]; break;
    case DLC_BOOL: v = ((const uint8_t *)src)[i] != 0; break;
    default: rt_set_error("%s: unsupported dtype", what); return -1;
    }
    switch (dst_dtype) {
    case DLC_F32: ((float *)dst)[i] = (float)v; break;
    case DLC_F64: ((double *)dst)[i] = v; break;
    case DLC_I32:
    case DLC_I64:
      if (v != floor(v) || fabs(v) > 2147483647.0) {
        rt_set_error("%s: element %lld is %g, which is not a whole number (the model wants %s)", what,
                     (long long)i, v, rt_dtype_name(dst_dtype));
        return -1;
      }
      if (dst_dtype == DLC_I32)
        ((int32_t *)dst)[i] = (int32_t)v;
      else
        ((int64_t *)dst)[i] = (int64_t)v;
      break;
    case DLC_BOOL: ((uint8_t *)dst)[i] = v != 0; break;
    default: rt_set_error("%s: unsupported dtype", what); return -1;
    }
  }
  return 0;
}

/* The header row's names, to choose a default label column; only the first record is
 * read. An empty file gives none (the CSV reader then says it is empty). */
static int header_names(const char *path, char ***names, int *n) {
  *names = NULL;
  *n = 0;
  rt_csv_reader r;
  if (rt_csv_reader_open(&r, path)) return -1;
  int rc = rt_csv_next(&r), status = rc < 0 ? -1 : 0;
  if (rc > 0) {
    if (!(*names = calloc((size_t)r.nfields, sizeof **names))) status = oom();
    for (int i = 0; status == 0 && i < r.nfields; i++, (*n)++)
      if (!((*names)[i] = rt_csv_unquote(&r.fields[i]))) status = oom();
  }
  rt_csv_reader_close(&r);
  return status;
}

static int load_csv(const rt_data_spec *spec, const dlc_model_desc *desc, int allow_no_label,
                    rt_dataset *out) {
  int label = desc->ninputs >= 2 ? desc->ninputs - 1 : -1;
  if (desc->ninputs > 2) {
    rt_set_error("%s: a CSV file feeds a model with one feature input and one label input; this model "
                 "has %d inputs (use .npy files, one per input)", spec->path, desc->ninputs);
    return -1;
  }
  char **names = NULL;
  int nnames = 0;
  const char *label_col = spec->label;
  int status = -1;
  if (label >= 0 && (!label_col || allow_no_label)) {
    if (header_names(spec->path, &names, &nnames)) goto done;
    int64_t width;
    if (input_width(desc, 0, &width)) goto done;
    int found = -1;
    for (int i = 0; i < nnames; i++)
      if (!strcmp(names[i], label_col ? label_col : desc->inputs[label].name)) found = i;
    if (found >= 0) {
      label_col = names[found];
    } else if (label_col) {
      label = -1; /* allow_no_label: rows to predict, without labels */
    } else if (nnames > 0) {
      /* No label named and none called like the model's label input: the last column
       * that is not a feature, unless the rows to predict hold features only. */
      int last = -1;
      for (int i = 0; i < nnames; i++) {
        int is_feature = 0;
        for (int j = 0; j < spec->nfeatures && !is_feature; j++) is_feature = !strcmp(names[i], spec->features[j]);
        if (!is_feature) last = i;
      }
      int features_only = spec->nfeatures ? last < 0 : nnames == width;
      if (allow_no_label && features_only) {
        label = -1;
      } else if (last < 0 || nnames == 1) {
        rt_set_error("%s: no label column (the model's label input is '%s'; name the column with "
                     "label = \"...\" in the data source)", spec->path, desc->inputs[desc->ninputs - 1].name);
        goto done;
      } else {
        label_col = names[last];
      }
    } /* an empty file: the CSV reader says so */
  }
  int label_dtype = label >= 0 && (desc->inputs[label].dtype == DLC_I32 || desc->inputs[label].dtype == DLC_I64)
                        ? DLC_I32
                        : DLC_F32;
  rt_csv_options opt = {.features = (const char *const *)spec->features,
                        .nfeatures = spec->nfeatures,
                        .label = label >= 0 ? label_col : NULL,
                        .label_dtype = label_dtype};
  rt_csv_table t;
  if (spec->prep ? rt_prep_read_csv(spec->path, &opt, spec->prep, &t) : rt_csv_read(spec->path, &opt, &t))
    goto done;
  if (alloc_arrays(desc, t.rows, out)) goto free_table;
  if (t.nfeatures != out->arrays[0].width) {
    char shape[96];
    const dlc_tensor_desc *in = &desc->inputs[0];
    rt_set_error("%s: %d feature column%s, but the model's input '%s' (%s) takes %lld values per row",
                 spec->path, t.nfeatures, t.nfeatures == 1 ? "" : "s", in->name,
                 rt_shape_str(in->rank, in->shape, shape, sizeof shape), (long long)out->arrays[0].width);
    goto free_table;
  }
  if (convert(spec->path, DLC_F32, t.x, out->arrays[0].dtype, out->arrays[0].data, t.rows * t.nfeatures))
    goto free_table;
  out->feature_names = t.feature_names;
  out->nfeatures = t.nfeatures;
  t.feature_names = NULL;
  out->unlabeled = label < 0 && out->label >= 0;
  if (label >= 0) {
    if (out->arrays[label].width != 1) {
      rt_set_error("%s: one label column, but the model's label input '%s' takes %lld values per row",
                   spec->path, desc->inputs[label].name, (long long)out->arrays[label].width);
      goto free_table;
    }
    if (convert(spec->path, label_dtype, t.y, out->arrays[label].dtype, out->arrays[label].data, t.rows))
      goto free_table;
  }
  status = 0;
free_table:
  rt_csv_free(&t);
done:
  for (int i = 0; i < nnames; i++) free(names[i]);
  free(names);
  return status;
}

static int load_npy(const rt_data_spec *spec, const dlc_model_desc *desc, rt_dataset *out) {
  int n = 1;
  for (const char *p = spec->path; *p; p++) n += *p == ',';
  if (n != desc->ninputs) {
    rt_set_error("%s: %d .npy file%s for a model with %d inputs (one file per input, in the order "
                 "the model declares them, comma-separated)", spec->path, n, n == 1 ? "" : "s",
                 desc->ninputs);
    return -1;
  }
  dlc_tensor *ts = calloc((size_t)n, sizeof *ts);
  char **paths = calloc((size_t)n, sizeof *paths);
  int status = -1;
  if (!ts || !paths) {
    oom();
    goto done;
  }
  const char *p = spec->path;
  for (int i = 0; i < n; i++) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (!(paths[i] = malloc(len + 1))) {
      oom();
      goto done;
    }
    memcpy(paths[i], p, len);
    paths[i][len] = '\0';
    p += len + 1;
    if (rt_npy_load(paths[i], &ts[i])) goto done;
    if (ts[i].rank < 1 || ts[i].shape[0] < 1) {
      rt_set_error("%s: needs at least one row (its first axis counts rows)", paths[i]);
      goto done;
    }
    if (ts[i].shape[0] != ts[0].shape[0]) {
      rt_set_error("%s has %lld rows but %s has %lld", paths[i], (long long)ts[i].shape[0], paths[0],
                   (long long)ts[0].shape[0]);
      goto done;
    }
  }
  if (alloc_arrays(desc, ts[0].shape[0], out)) goto done;
  for (int i = 0; i < n; i++) {
    int64_t width = rt_numel(ts[i].rank - 1, ts[i].shape + 1);
    if (width != out->arrays[i].width) {
      char shape[96], want[96];
      const dlc_tensor_desc *in = &desc->inputs[i];
      rt_set_error("%s: shape %s gives %lld values per row, but the model's input '%s' (%s) takes %lld",
                   paths[i], rt_shape_str(ts[i].rank, ts[i].shape, shape, sizeof shape), (long long)width,
                   in->name, rt_shape_str(in->rank, in->shape, want, sizeof want),
                   (long long)out->arrays[i].width);
      goto done;
    }
    if (convert(paths[i], ts[i].dtype, ts[i].data, out->arrays[i].dtype, out->arrays[i].data,
                out->rows * width))
      goto done;
  }
  status = 0;
done:
  for (int i = 0; i < n && ts && paths; i++) {
    free(ts[i].data);
    free(paths[i]);
  }
  free(ts);
  free(paths);
  return status;
}

static int load_synthetic(const rt_data_spec *spec, const dlc_model_desc *desc, uint64_t seed,
                          rt_dataset *out) {
  if (desc->ninputs != 2) {
    rt_set_error("the synthetic linear-regression source feeds a model with a feature input and a label "
                 "input; this model has %d inputs", desc->ninputs);
    return -1;
  }
  if (alloc_arrays(desc, spec->n, out)) return -1;
  rt_data_array *x = &out->arrays[0], *y = &out->arrays[1];
  if (x->width != spec->nw || y->width != 1 || x->dtype != DLC_F32 || y->dtype != DLC_F32) {
    rt_set_error("the synthetic source makes f32 rows of %d features and one f32 label; the model's "
                 "inputs '%s' and '%s' take %s x %lld and %s x %lld", spec->nw, x->name, y->name,
                 rt_dtype_name(x->dtype), (long long)x->width, rt_dtype_name(y->dtype), (long long)y->width);
    return -1;
  }
  rt_rng rng;
  rt_rng_seed_stream(&rng, spec->has_seed ? spec->seed : seed, rt_stream_id("data"));
  float *xs = x->data, *ys = y->data;
  for (int64_t r = 0; r < spec->n; r++) {
    double acc = spec->b;
    for (int j = 0; j < spec->nw; j++) {
      float v = (float)rt_rng_normal(&rng);
      xs[r * spec->nw + j] = v;
      acc += (double)v * spec->w[j];
    }
    ys[r] = (float)(acc + spec->noise * rt_rng_normal(&rng));
  }
  return 0;
}

int rt_data_load(const rt_data_spec *spec, const dlc_model_desc *desc, uint64_t seed, int allow_no_label,
                 rt_dataset *out) {
  memset(out, 0, sizeof *out);
  out->label = -1;
  int rc;
  switch (spec->kind) {
  case RT_SOURCE_CSV: rc = load_csv(spec, desc, allow_no_label, out); break;
  case RT_SOURCE_NPY: rc = load_npy(spec, desc, out); break;
  case RT_SOURCE_SYNTHETIC: rc = load_synthetic(spec, desc, seed, out); break;
  default:
    rt_set_error("no data: the model names no data source; give one with --data FILE (.csv or .npy)");
    rc = -1;
  }
  if (rc) {
    rt_data_free(out);
    return -1;
  }
  /* Class labels index the prediction's scores (the axis the label indexes, when the model
   * says): one out of range would train on another class, so it is refused here, with the
   * row, before the step would refuse the batch. */
  int label = out->label;
  int64_t classes = desc->prediction.rank >= 2 ? rt_numel(desc->prediction.rank - 1, desc->prediction.shape + 1) : 0;
  if (label >= 0 && desc->inputs[label].index_bound > 0) classes = desc->inputs[label].index_bound;
  if (label >= 0 && !out->unlabeled && (out->arrays[label].dtype == DLC_I32 || out->arrays[label].dtype == DLC_I64)) {
    int64_t max = -1;
    for (int64_t r = 0; r < out->rows; r++) {
      int64_t v = out->arrays[label].dtype == DLC_I32 ? ((int32_t *)out->arrays[label].data)[r]
                                                       : ((int64_t *)out->arrays[label].data)[r];
      if (v < 0 || (classes >= 2 && v >= classes)) {
        rt_set_error("%s: label %lld in data row %lld is not a class of this model (0 to %lld)",
                     spec->path ? spec->path : "data", (long long)v, (long long)r + 1, (long long)classes - 1);
        rt_data_free(out);
        return -1;
      }
      if (v > max) max = v;
    }
    out->nclasses = (int32_t)(max + 1);
  }
  return 0;
}

int rt_data_take(const rt_dataset *src, const int64_t *idx, int64_t n, rt_dataset *out) {
  memset(out, 0, sizeof *out);
  out->rows = n;
  out->narrays = src->narrays;
  out->label = src->label;
  out->unlabeled = src->unlabeled;
  out->nclasses = src->nclasses;
  for (int a = 0; a < src->narrays; a++) {
    const rt_data_array *s = &src->arrays[a];
    rt_data_array *d = &out->arrays[a];
    *d = (rt_data_array){.dtype = s->dtype, .width = s->width};
    d->name = strdup(s->name);
    d->data = malloc((size_t)((n ? n : 1) * s->width) * rt_dtype_size(s->dtype));
    if (!d->name || !d->data) {
      rt_data_free(out);
      return oom();
    }
  }
  void *bufs[RT_DATA_MAX_ARRAYS];
  for (int a = 0; a < out->narrays; a++) bufs[a] = out->arrays[a].data;
  rt_data_gather(src, idx, n, bufs);
  return 0;
}

int rt_data_split(const rt_dataset *all, double fraction, uint64_t seed, rt_dataset *train, rt_dataset *test) {
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  /* The split rt_prep_hold_out() fits the preparation on: the same rows, always. */
  int64_t *idx, ntest;
  if (rt_split_rows(all->rows, fraction, seed, &idx, &ntest)) return -1;
  int rc = rt_data_take(all, idx, ntest, test) || rt_data_take(all, idx + ntest, all->rows - ntest, train);
  free(idx);
  if (rc) {
    rt_data_free(train);
    rt_data_free(test);
    return -1;
  }
  return 0;
}

void rt_data_gather(const rt_dataset *d, const int64_t *idx, int64_t n, void *const *bufs) {
  for (int a = 0; a < d->narrays; a++) {
    size_t row = (size_t)d->arrays[a].width * rt_dtype_size(d->arrays[a].dtype);
    const char *src = d->arrays[a].data;
    char *dst = bufs[a];
    for (int64_t i = 0; i < n; i++) memcpy(dst + (size_t)i * row, src + (size_t)idx[i] * row, row);
  }
}

/* ---- standardisation ------------------------------------------------------------------ */

void rt_standardizer_free(rt_standardizer *s) {
  free(s->mean);
  free(s->std);
  memset(s, 0, sizeof *s);
}

static int std_alloc(int64_t width, rt_standardizer *out) {
  out->width = width;
  out->mean = calloc((size_t)width, sizeof *out->mean);
  out->std = calloc((size_t)width, sizeof *out->std);
  if (!out->mean || !out->std) {
    rt_standardizer_free(out);
    return oom();
  }
  return 0;
}

int rt_standardizer_fit(const rt_dataset *d, rt_standardizer *out) {
  memset(out, 0, sizeof *out);
  const rt_data_array *x = &d->arrays[0];
  if (d->narrays < 1 || x->dtype != DLC_F32 || d->rows < 1) {
    rt_set_error("standardisation needs f32 features and at least one row");
    return -1;
  }
  if (std_alloc(x->width, out)) return -1;
  const float *v = x->data;
  for (int64_t j = 0; j < x->width; j++) {
    /* Two passes in double: the mean first, then the deviations from it. */
    double sum = 0, sq = 0;
    for (int64_t r = 0; r < d->rows; r++) sum += v[r * x->width + j];
    double mean = sum / (double)d->rows;
    for (int64_t r = 0; r < d->rows; r++) {
      double e = v[r * x->width + j] - mean;
      sq += e * e;
    }
    double sd = sqrt(sq / (double)d->rows);
    out->mean[j] = (float)mean;
    out->std[j] = sd > 1e-12 * (fabs(mean) + 1) ? (float)sd : 1.0f;
  }
  return 0;
}

int rt_standardizer_apply(const rt_standardizer *s, rt_dataset *d) {
  rt_data_array *x = &d->arrays[0];
  if (d->narrays < 1 || x->dtype != DLC_F32 || x->width != s->width) {
    rt_set_error("the standardisation was fitted to %lld features, the data have %lld", (long long)s->width,
                 (long long)x->width);
    return -1;
  }
  float *v = x->data;
  for (int64_t r = 0; r < d->rows; r++)
    for (int64_t j = 0; j < x->width; j++) v[r * x->width + j] = (v[r * x->width + j] - s->mean[j]) / s->std[j];
  return 0;
}

static char *floats_json(const float *v, int64_t n) {
  size_t cap = (size_t)n * 18 + 3, len = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  s[len++] = '[';
  for (int64_t i = 0; i < n; i++)
    len += (size_t)snprintf(s + len, cap - len, "%s%.9g", i ? ", " : "", (double)v[i]);
  snprintf(s + len, cap - len, "]");
  return s;
}

int rt_standardizer_to_meta(const rt_standardizer *s, char **mean_json, char **std_json) {
  *mean_json = floats_json(s->mean, s->width);
  *std_json = floats_json(s->std, s->width);
  if (!*mean_json || !*std_json) {
    free(*mean_json);
    free(*std_json);
    *mean_json = *std_json = NULL;
    return oom();
  }
  return 0;
}

/* "[1, 2.5, ...]" into a malloc'd float array. */
static int parse_floats(const char *what, const char *s, float **out, int64_t *n) {
  *out = NULL;
  *n = 0;
  const char *p = s;
  while (*p == ' ') p++;
  if (*p++ != '[') goto bad;
  int64_t cap = 1;
  for (const char *q = p; *q; q++) cap += *q == ',';
  if (!(*out = malloc((size_t)cap * sizeof **out))) return oom();
  for (;;) {
    while (*p == ' ') p++;
    if (*p == ']' && *n == 0) break;
    const char *e = p;
    while (*e && *e != ',' && *e != ']' && *e != ' ') e++;
    double v;
    if (*n >= cap || rt_parse_number(p, (size_t)(e - p), &v) || !isfinite((float)v)) goto bad; /* f32s */
    (*out)[(*n)++] = (float)v;
    p = e;
    while (*p == ' ') p++;
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p == ']') break;
    goto bad;
  }
  return 0;
bad:
  free(*out);
  *out = NULL;
  rt_set_error("checkpoint metadata %s is not a list of numbers", what);
  return -1;
}

int rt_standardizer_from_meta(const char *mean_json, const char *std_json, rt_standardizer *out) {
  memset(out, 0, sizeof *out);
  int64_t nm, ns;
  if (parse_floats(RT_META_MEAN, mean_json, &out->mean, &nm)) return -1;
  if (parse_floats(RT_META_STD, std_json, &out->std, &ns)) {
    rt_standardizer_free(out);
    return -1;
  }
  out->width = nm;
  if (nm != ns) {
    rt_standardizer_free(out);
    rt_set_error("checkpoint metadata: %lld means but %lld deviations", (long long)nm, (long long)ns);
    return -1;
  }
  for (int64_t j = 0; j < ns; j++)
    if (!(out->std[j] > 0)) {
      rt_standardizer_free(out);
      rt_set_error("checkpoint metadata %s holds a deviation that is not positive", RT_META_STD);
      return -1;
    }
  return 0;
}

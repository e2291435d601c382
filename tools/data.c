/* Data for the driver's training and prediction commands. See data.h. */
#include "data.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The folder of a path ("" for a bare file name), malloc'd. */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 0;
  if (slash == path) n = 1; /* "/model.def" */
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, path, n);
    d[n] = '\0';
  }
  return d;
}

/* Whether every comma-separated path in `paths` can be read. */
static bool readable(const char *paths) {
  char *copy = strdup(paths);
  bool ok = copy != NULL;
  for (char *p = copy, *save = NULL, *tok; ok && (tok = strtok_r(p, ",", &save)); p = NULL) ok = access(tok, R_OK) == 0;
  free(copy);
  return ok;
}

bool drv_data_spec(const char *cmd, const ir_module *m, const char *model_path, const char *data_arg,
                   rt_data_spec *out, rt_prep **prep) {
  memset(out, 0, sizeof *out);
  *prep = NULL;
  const char *text = ir_module_get_meta(m, "data");
  rt_data_spec model_spec = {0};
  if (text) {
    /* The preparation settings are the prep's; the rest is the plain data source. */
    rt_prep *p = rt_prep_new();
    char *rest = NULL;
    bool ok = p && rt_prep_take_source(p, text, &rest) == 0 && rt_data_spec_parse(rest, &model_spec) == 0 &&
              (!model_spec.standardize || rt_prep_set(p, "standardize", "true") == 0);
    free(rest);
    if (!ok) {
      fprintf(stderr, "%s: error: %s\n", model_path, p ? dlc_last_error() : "out of memory");
      rt_prep_free(p);
      rt_data_spec_free(&model_spec);
      return false;
    }
    if (rt_prep_active(p)) {
      *prep = p;
      model_spec.prep = p;
    } else {
      rt_prep_free(p);
    }
  }
  if (data_arg) {
    bool ok = rt_data_spec_for_file(data_arg, &model_spec, out) == 0;
    if (!ok) fprintf(stderr, "dlc %s: error: %s\n", cmd, dlc_last_error());
    rt_data_spec_free(&model_spec);
    return ok;
  }
  if (!text || model_spec.kind == RT_SOURCE_NONE) {
    fprintf(stderr,
            "dlc %s: error: no data: %s names no data source; give one with --data FILE (.csv, or .npy "
            "files comma-separated, one per input), or add a line such as\n"
            "    data csv(\"train.csv\", features = x0..x9, label = \"y\")\n"
            "to the model\n",
            cmd, model_path);
    rt_data_spec_free(&model_spec);
    return false;
  }
  *out = model_spec;
  if (out->path) {
    char *dir = dir_of(model_path);
    rt_data_spec resolved = *out;
    if (!dir || !(resolved.path = strdup(out->path)) || rt_data_spec_resolve(&resolved, dir)) {
      fprintf(stderr, "dlc %s: error: out of memory\n", cmd);
      free(dir);
      rt_data_spec_free(out);
      return false;
    }
    free(dir);
    /* Beside the model first; else as written, from the working directory. */
    if (readable(resolved.path) || !readable(out->path)) {
      free(out->path);
      out->path = resolved.path;
    } else {
      free(resolved.path);
    }
  }
  return true;
}

/* A CSV source read as every column but the label, in file order. */
static bool names_no_columns(const rt_data_spec *spec) {
  return spec->kind == RT_SOURCE_CSV && !spec->prep && !spec->features;
}

bool drv_recorded_columns(const char *cmd, const char *checkpoint, rt_st_file *ck, rt_data_spec *spec) {
  const char *json = ck ? rt_st_meta_get(ck, RT_META_FEATURES) : NULL;
  if (!names_no_columns(spec) || !json) return true;
  if (rt_columns_from_json(json, &spec->features, &spec->nfeatures)) {
    fprintf(stderr, "dlc %s: error: %s: %s\n", cmd, checkpoint, dlc_last_error());
    return false;
  }
  return true;
}

bool drv_read_columns(const char *cmd, const rt_dataset *read, rt_data_spec *spec) {
  if (!names_no_columns(spec) || !read->feature_names) return true;
  if (rt_data_spec_name_features(spec, (const char *const *)read->feature_names, read->nfeatures)) {
    fprintf(stderr, "dlc %s: error: %s\n", cmd, dlc_last_error());
    return false;
  }
  return true;
}

bool drv_data_load(const char *cmd, const rt_data_spec *spec, const dlc_model_desc *desc, uint64_t seed,
                   bool allow_no_label, rt_dataset *out) {
  if (rt_data_load(spec, desc, seed, allow_no_label, out) == 0) return true;
  fprintf(stderr, "dlc %s: error: %s\n", cmd, dlc_last_error());
  return false;
}

void drv_print_values(FILE *out, const float *v, int64_t n, int64_t max) {
  if (n == 1) {
    fprintf(out, "%.6g", (double)v[0]);
    return;
  }
  fputc('[', out);
  for (int64_t i = 0; i < n && i < max; i++) fprintf(out, "%s%.6g", i ? ", " : "", (double)v[i]);
  fputs(n > max ? ", ...]" : "]", out);
}

bool drv_parse_int(const char *cmd, const char *opt, const char *text, int64_t lo, int64_t hi, int64_t *out) {
  double v;
  if (rt_parse_number(text, strlen(text), &v) || v != (double)(int64_t)v || v < (double)lo || v > (double)hi) {
    fprintf(stderr, "dlc %s: error: %s needs a whole number from %lld to %lld, not '%s'\n", cmd, opt,
            (long long)lo, (long long)hi, text);
    return false;
  }
  *out = (int64_t)v;
  return true;
}

bool drv_parse_double(const char *cmd, const char *opt, const char *text, double lo, double hi, double *out) {
  double v;
  if (rt_parse_number(text, strlen(text), &v) || !(v >= lo && v <= hi)) {
    fprintf(stderr, "dlc %s: error: %s needs a number from %g to %g, not '%s'\n", cmd, opt, lo, hi, text);
    return false;
  }
  *out = v;
  return true;
}

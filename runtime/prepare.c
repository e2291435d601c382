/* dlc_prepare_csv: the preparation of runtime/rt_prep.h for programs that load train.so. New
 * rows go through what a checkpoint recorded of training's preparation (never one fitted
 * on themselves), as `dlc predict` does. */
#include <stdlib.h>

#include "rt.h"
#include "rt_prep.h"
#include "rt_train.h"

/* Floats per row of the model's first input (its features): all but the batch axis. */
static int64_t feature_width(const dlc_model_desc *d) {
  if (d->ninputs < 1 || d->inputs[0].rank < 1 || d->inputs[0].shape[0] <= 0) return -1;
  return rt_numel(d->inputs[0].rank, d->inputs[0].shape) / d->inputs[0].shape[0];
}

static int width_error(const char *checkpoint, const char *what, int64_t width, const dlc_model_desc *d) {
  rt_set_error("dlc_prepare_csv: %s's %s makes rows of %lld values, the model's input '%s' takes %lld", checkpoint,
               what, (long long)width, d->ninputs ? d->inputs[0].name : "?", (long long)feature_width(d));
  return -1;
}

/* A model trained on CSV columns read as plain numbers: the checkpoint names the columns
 * (RT_META_FEATURES) and holds their mean and deviation where training standardised them. */
static int read_plain(const dlc_model_desc *d, const char *checkpoint, rt_st_file *ck, const char *csv_path,
                      rt_csv_table *t) {
  const char *names_json = rt_st_meta_get(ck, RT_META_FEATURES);
  const char *mean = rt_st_meta_get(ck, RT_META_MEAN), *sd = rt_st_meta_get(ck, RT_META_STD);
  if (!names_json) {
    rt_set_error("dlc_prepare_csv: %s names no feature columns (neither metadata \"%s\" nor \"%s\"): its model "
                 "was not trained on a CSV file, or by a dlc older than these metadata",
                 checkpoint, RT_META_PREP, RT_META_FEATURES);
    return -1;
  }
  if (!mean != !sd) {
    rt_set_error("dlc_prepare_csv: %s holds %s without %s", checkpoint, mean ? RT_META_MEAN : RT_META_STD,
                 mean ? RT_META_STD : RT_META_MEAN);
    return -1;
  }
  char **names;
  int n, status = -1;
  rt_standardizer s = {0};
  if (rt_columns_from_json(names_json, &names, &n)) return -1;
  if (n != feature_width(d)) {
    width_error(checkpoint, "feature list", n, d);
    goto done;
  }
  if (mean && rt_standardizer_from_meta(mean, sd, &s)) goto done;
  if (mean && s.width != n) {
    width_error(checkpoint, "standardisation", s.width, d);
    goto done;
  }
  rt_csv_options opt = {.features = (const char *const *)names, .nfeatures = n}; /* no label */
  if (rt_csv_read(csv_path, &opt, t)) goto done;
  /* The table's matrix, as the one array of a data set that the standardisation scales. */
  rt_dataset rows = {.rows = t->rows, .narrays = 1, .arrays[0] = {.dtype = DLC_F32, .width = n, .data = t->x}};
  status = mean && rt_standardizer_apply(&s, &rows) ? -1 : 0;
done:
  rt_standardizer_free(&s);
  for (int j = 0; j < n; j++) free(names[j]);
  free(names);
  return status;
}

int dlc_prepare_csv(const dlc_model *model, const char *checkpoint, const char *csv_path, float **x, int64_t *rows) {
  if (!model || !checkpoint || !csv_path || !x || !rows) {
    rt_set_error("dlc_prepare_csv: no model, checkpoint, file or output given");
    return -1;
  }
  *x = NULL;
  *rows = 0;
  const dlc_model_desc *d = rt_model_desc(model);
  rt_prep *p = rt_prep_new();
  rt_st_file *ck = NULL;
  rt_csv_table t = {0};
  rt_csv_options opt = {0}; /* the columns the preparation was fitted on; no label */
  int status = -1, has = 0;
  if (!p) {
    rt_set_error("out of memory");
  } else if (rt_st_open(checkpoint, &ck) || (has = rt_prep_from_file(p, ck)) < 0) {
    /* the error is set */
  } else if (has == 0) {
    status = read_plain(d, checkpoint, ck, csv_path, &t);
  } else if (rt_prep_width(p) != feature_width(d)) {
    width_error(checkpoint, "preparation", rt_prep_width(p), d);
  } else {
    status = rt_prep_read_csv(csv_path, &opt, p, &t);
  }
  if (status == 0) {
    *x = t.x;
    *rows = t.rows;
    t.x = NULL;
  }
  rt_csv_free(&t);
  if (ck) rt_st_close(ck);
  rt_prep_free(p);
  return status;
}

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
  } else if (!rt_st_open(checkpoint, &ck) && (has = rt_prep_from_file(p, ck)) == 0) {
    rt_set_error("dlc_prepare_csv: %s records no preparation (metadata \"%s\", written when the data source has "
                 "missing or categorical settings); its model reads the feature columns as numbers, standardised "
                 "with the checkpoint's \"%s\" and \"%s\" where it has them",
                 checkpoint, RT_META_PREP, RT_META_MEAN, RT_META_STD);
  } else if (has > 0 && rt_prep_width(p) != feature_width(d)) {
    rt_set_error("dlc_prepare_csv: %s's preparation makes rows of %lld values, the model's input '%s' takes %lld",
                 checkpoint, (long long)rt_prep_width(p), d->ninputs ? d->inputs[0].name : "?",
                 (long long)feature_width(d));
  } else if (has > 0 && !rt_prep_read_csv(csv_path, &opt, p, &t)) {
    *x = t.x;
    *rows = t.rows;
    t.x = NULL;
    status = 0;
  }
  rt_csv_free(&t);
  if (ck) rt_st_close(ck);
  rt_prep_free(p);
  return status;
}

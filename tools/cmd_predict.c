/* dlc predict MODEL.def --load W.safetensors: the trained model's outputs for every row
 * of a data file, as CSV. A classifier gives the class (argmax) and each class's
 * probability; any other model gives its output columns. Rows with labels also get a
 * score on stderr (accuracy, or the mean loss). The checkpoint's standardisation is
 * applied to the features, as in training. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "driver.h"
#include "pipeline.h"
#include "rt_train.h"

#define CMD "predict"

typedef struct {
  const char *model, *load, *data, *output;
  int64_t batch, threads;
} predict_args;

static void usage(FILE *out) {
  fprintf(out,
          "usage: dlc predict MODEL.def --load W.safetensors [--data FILE] [-o OUT.csv] [--batch B]\n"
          "                   [--threads N]\n"
          "Writes the model's output for every row of FILE (default: the model's data source) as CSV:\n"
          "  classifiers (integer labels, one score per class): class,p0,p1,...  (argmax, softmax)\n"
          "  other models: prediction (one output) or prediction0,prediction1,...\n"
          "FILE may lack the label column. With labels, the accuracy or the loss goes to stderr.\n"
          "--threads N: threads the compiled model runs on (default 1, or $DLC_THREADS).\n");
}

static int parse_args(int argc, char **argv, predict_args *a) {
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return -1;
    } else if (drv_option(argc, argv, &i, "--load", &v)) {
      a->load = v;
    } else if (drv_option(argc, argv, &i, "--data", &v)) {
      a->data = v;
    } else if (drv_option(argc, argv, &i, "-o", &v) || drv_option(argc, argv, &i, "--output", &v)) {
      a->output = v;
    } else if (drv_option(argc, argv, &i, "--batch", &v)) {
      if (!drv_parse_int(CMD, "--batch", v, 1, 1 << 30, &a->batch)) return 2;
    } else if (drv_option(argc, argv, &i, "--threads", &v)) {
      if (!drv_parse_int(CMD, "--threads", v, 1, DRV_MAX_THREADS, &a->threads)) return 2;
    } else if (!drv_input("dlc predict", argv[i], &a->model, usage)) {
      return 2;
    }
  }
  if (!a->model) {
    usage(stderr);
    return 2;
  }
  if (!a->load) {
    fprintf(stderr, "dlc predict: error: --load W.safetensors is needed (the trained weights; `dlc train "
                    "--save` writes them)\n");
    return 2;
  }
  return 0;
}

typedef struct {
  FILE *out;
  bool classifier;
} writer;

/* Scores are probabilities already when every row is a distribution; else (logits) they
 * are turned into probabilities with a stable softmax. */
static bool is_distribution(const float *v, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!(v[i] >= 0 && v[i] <= 1)) return false;
    sum += v[i];
  }
  return fabs(sum - 1) < 1e-4;
}

static int write_rows(void *ctx, int64_t first, int64_t n, int64_t width, const float *pred) {
  writer *w = ctx;
  (void)first;
  double *p = malloc((size_t)width * sizeof *p);
  if (!p) {
    rt_set_error("out of memory");
    return -1;
  }
  for (int64_t r = 0; r < n; r++) {
    const float *row = pred + r * width;
    if (!w->classifier) {
      for (int64_t j = 0; j < width; j++) fprintf(w->out, "%s%.9g", j ? "," : "", (double)row[j]);
      fputc('\n', w->out);
      continue;
    }
    int64_t best = 0;
    for (int64_t j = 1; j < width; j++)
      if (row[j] > row[best]) best = j;
    if (is_distribution(row, width)) {
      for (int64_t j = 0; j < width; j++) p[j] = row[j];
    } else {
      double sum = 0;
      for (int64_t j = 0; j < width; j++) sum += p[j] = exp((double)row[j] - (double)row[best]);
      for (int64_t j = 0; j < width; j++) p[j] /= sum;
    }
    fprintf(w->out, "%lld", (long long)best);
    for (int64_t j = 0; j < width; j++) fprintf(w->out, ",%.6g", p[j]);
    fputc('\n', w->out);
  }
  free(p);
  if (ferror(w->out)) {
    rt_set_error("write error");
    return -1;
  }
  return 0;
}

int cmd_predict(int argc, char **argv) {
  predict_args a = {0};
  int status = parse_args(argc, argv, &a);
  if (status) return status < 0 ? 0 : status;
  status = 1;

  be_options bo = be_options_default();
  bo.threads = (int)a.threads; /* 0: the pool as it is (1 thread, or DLC_THREADS) */
  bo.entries = DLC_ENTRY_EVAL_LOSS | DLC_ENTRY_FORWARD;
  pl_options po = {.path = a.model, .batch = a.batch, .backend = &bo};
  pl_model pm;
  pl_variants variants = {0};
  rt_data_spec spec = {0};
  rt_dataset data = {0};
  rt_standardizer stdz = {0};
  rt_prep *prep = NULL, *saved = NULL;
  rt_st_file *ck = NULL;
  dlc_model *model = NULL;
  FILE *out = NULL;

  if (!pl_compile(&po, &pm)) goto done;
  const dlc_model_desc *desc = pm.desc;
  pl_variants_init(&variants, &po, 0);
  if (!drv_data_spec(CMD, pm.module, a.model, a.data, &spec, &prep)) goto done;
  /* The parameters alone: the optimiser's state, whichever optimiser trained them, plays
   * no part in prediction. */
  if (!(model = dlc_create_from(desc, 0)) || rt_model_load_params(model, a.load) || rt_st_open(a.load, &ck)) {
    fprintf(stderr, "dlc predict: error: %s\n", dlc_last_error());
    goto done;
  }
  /* New rows go through the preparation training learned (fill values, categories,
   * scales), never one fitted on themselves. */
  int has_prep = (saved = rt_prep_new()) ? rt_prep_from_file(saved, ck) : -1;
  if (has_prep < 0) {
    fprintf(stderr, "dlc predict: error: %s: %s\n", a.load, saved ? dlc_last_error() : "out of memory");
    goto done;
  }
  if (has_prep) {
    spec.prep = saved;
  } else if (spec.prep) {
    fprintf(stderr, "dlc predict: error: the model prepares its data (%s), but %s holds no preparation (%s) "
                    "to do it with\n", "missing values or categorical columns", a.load, RT_META_PREP);
    goto done;
  }
  if (!drv_recorded_columns(CMD, a.load, ck, &spec)) goto done;
  if (!drv_data_load(CMD, &spec, desc, 0, true, &data)) goto done;

  const char *mean = rt_st_meta_get(ck, RT_META_MEAN), *sd = rt_st_meta_get(ck, RT_META_STD);
  if (mean && sd) {
    if (rt_standardizer_from_meta(mean, sd, &stdz) || rt_standardizer_apply(&stdz, &data)) {
      fprintf(stderr, "dlc predict: error: %s: %s\n", a.load, dlc_last_error());
      goto done;
    }
  } else if (spec.standardize && !spec.prep) { /* a preparation scales itself */
    fprintf(stderr, "dlc predict: error: the model standardises its features, but %s holds no statistics "
                    "(%s, %s) to do it with\n", a.load, RT_META_MEAN, RT_META_STD);
    goto done;
  }

  out = a.output ? fopen(a.output, "w") : stdout;
  if (!out) {
    fprintf(stderr, "dlc predict: error: cannot write '%s'\n", a.output);
    goto done;
  }
  int64_t width = desc->batch > 0 ? rt_numel(desc->prediction.rank, desc->prediction.shape) / desc->batch : 0;
  writer w = {.out = out, .classifier = rt_is_classifier(desc, &data)};
  if (w.classifier) {
    fputs("class", out);
    for (int64_t j = 0; j < width; j++) fprintf(out, ",p%lld", (long long)j);
  } else if (width == 1) {
    fputs("prediction", out);
  } else {
    for (int64_t j = 0; j < width; j++) fprintf(out, "%sprediction%lld", j ? "," : "", (long long)j);
  }
  fputc('\n', out);
  if (rt_predict(model, pl_variant, &variants, &data, write_rows, &w)) {
    fprintf(stderr, "dlc predict: error: %s\n", dlc_last_error());
    goto done;
  }
  if (fflush(out)) {
    fprintf(stderr, "dlc predict: error: cannot write '%s'\n", a.output ? a.output : "<stdout>");
    goto done;
  }
  /* Rows that came with labels get a score. */
  if (!data.unlabeled && data.label >= 0) {
    double loss, acc;
    if (rt_evaluate(model, pl_variant, &variants, &data, &loss, &acc)) {
      fprintf(stderr, "dlc predict: error: %s\n", dlc_last_error());
      goto done;
    }
    FILE *info = a.output ? stdout : stderr;
    fprintf(info, "%lld rows: loss %.6g", (long long)data.rows, loss);
    if (!isnan(acc)) fprintf(info, ", accuracy %.4f", acc);
    fprintf(info, "\n");
  }
  status = 0;

done:
  if (out && out != stdout && fclose(out) && status == 0) {
    fprintf(stderr, "dlc predict: error: cannot write '%s'\n", a.output);
    status = 1;
  }
  rt_st_close(ck);
  dlc_destroy(model);
  rt_standardizer_free(&stdz);
  rt_data_free(&data);
  rt_data_spec_free(&spec);
  rt_prep_free(prep); /* after the spec that points at one of them */
  rt_prep_free(saved);
  pl_variants_free(&variants);
  pl_free(&pm);
  return status;
}

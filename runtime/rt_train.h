/* Training over the public ABI (dlc.h), for the dlc driver and for programs that link
 * the runtime: where data come from (the model's `data` entry: a CSV file, .npy files,
 * or the synthetic linear-regression generator), data sets in memory, a seeded
 * train/test split, feature standardisation, and the epoch loop (seeded shuffling, a
 * last partial batch that is trained on, evaluation, divergence detection).
 *
 * Like the rest of the runtime this prints nothing and never exits: functions return 0
 * or -1 with dlc_last_error() set, and the loop reports through the caller's hooks.
 * It includes nothing of the compiler: a model of another batch size comes from a
 * factory the caller provides (the driver compiles one with the JIT). */
#ifndef DLC_RT_TRAIN_H
#define DLC_RT_TRAIN_H

#include <stdint.h>

#include "rt.h"

/* ---- data sources (train_source.c) ------------------------------------------------ */

typedef enum {
  RT_SOURCE_NONE,
  RT_SOURCE_CSV,       /* a CSV file: feature columns and a label column */
  RT_SOURCE_NPY,       /* .npy files, one per model input, in declared order */
  RT_SOURCE_SYNTHETIC, /* X ~ N(0, 1), y = X w + b + noise * N(0, 1) */
} rt_source_kind;

typedef struct {
  rt_source_kind kind;
  char *path;       /* CSV: the file; NPY: the files, comma-separated */
  char **features;  /* CSV: feature columns (ranges expanded), NULL: every column but the label */
  int nfeatures;
  char *label;      /* CSV: the label column; NULL: the column named as the model's label
                       input, else the last column */
  double *w;        /* SYNTHETIC: true weights [nw] */
  int nw;
  double b, noise;  /* SYNTHETIC: true bias, standard deviation of the noise */
  int64_t n;        /* SYNTHETIC: rows */
  int has_seed;     /* SYNTHETIC: the data have a seed of their own (else the run's) */
  uint64_t seed;
  int standardize;  /* standardise features with the training split's mean and deviation */
  struct rt_prep *prep; /* CSV: the data preparation (rt_prep.h: fill, one-hot, scale) the
                           rows go through; NULL: the plain numeric reader. Not owned. */
} rt_data_spec;

/* Parses a data source: the text of the model's `data` meta entry, as the frontend
 * writes it (frontend/settings.c; docs/training.md lists every form):
 *   csv(path=digits.csv, features=pixel0..pixel63, label=label, standardize=true)
 *   npy(features=x.npy, labels=y.npy)
 *   synthetic_linreg(w=[2, -3.4], b=4.2, n=1000, noise=0.01) */
int rt_data_spec_parse(const char *text, rt_data_spec *out);
/* The source a data file given on the command line stands for: a .npy file (or several,
 * comma-separated) or a CSV file, keeping the column choice of `base` (may be NULL) when
 * that is a CSV source too. */
int rt_data_spec_for_file(const char *path, const rt_data_spec *base, rt_data_spec *out);
/* Sets a CSV source's feature columns to copies of names[0..n) (those it had freed). */
int rt_data_spec_name_features(rt_data_spec *s, const char *const *names, int n);
void rt_data_spec_free(rt_data_spec *s);
/* Relative CSV and .npy paths are taken from `dir` (the model file's folder): a model and
 * its data travel together. dir NULL or "" leaves them as they are. */
int rt_data_spec_resolve(rt_data_spec *s, const char *dir);

/* ---- data sets in memory (train_data.c) ------------------------------------------- */

#define RT_DATA_MAX_ARRAYS 8

/* One array per model input: rows along the first axis, `width` elements per row. */
typedef struct {
  char *name;     /* the model input it feeds */
  int dtype;      /* the input's dtype */
  int64_t width;  /* elements per row: the input's element count over its batch */
  void *data;     /* [rows, width], row-major */
} rt_data_array;

typedef struct {
  int64_t rows;
  int narrays;
  rt_data_array arrays[RT_DATA_MAX_ARRAYS];
  int label;          /* index of the label array, or -1 (a model with only features) */
  int unlabeled;      /* the file had no label column: the label array holds zeros */
  int32_t nclasses;   /* integer labels: 1 + the largest label; else 0 */
  char **feature_names; /* CSV: the header names of array 0's columns; NULL from other
                           sources and in rt_data_take's copies */
  int nfeatures;
} rt_dataset;

/* Reads the data a spec describes into arrays shaped for `desc`'s inputs (features
 * first, then the label, as the frontend orders them). `seed` seeds a synthetic source
 * that has no seed of its own. `allow_no_label`: a CSV without the label column gives a
 * zero label array (prediction on new data). Errors name the file, line and column. */
int rt_data_load(const rt_data_spec *spec, const dlc_model_desc *desc, uint64_t seed,
                 int allow_no_label, rt_dataset *out);
void rt_data_free(rt_dataset *d);
/* A copy of rows idx[0..n) of `src` (same arrays). */
int rt_data_take(const rt_dataset *src, const int64_t *idx, int64_t n, rt_dataset *out);
/* A seeded split: round(rows * fraction) rows (at least 1, at most rows - 1) go to `test`. */
int rt_data_split(const rt_dataset *all, double fraction, uint64_t seed, rt_dataset *train,
                  rt_dataset *test);
/* Copies rows idx[0..n) of every array into batch buffers bufs[a] (width * n elements). */
void rt_data_gather(const rt_dataset *d, const int64_t *idx, int64_t n, void *const *bufs);

/* Per-feature mean and deviation of array 0 (the features), from the training data. */
typedef struct {
  int64_t width;
  float *mean, *std; /* [width]; a constant column gets std 1 (it is only centred) */
} rt_standardizer;

int rt_standardizer_fit(const rt_dataset *d, rt_standardizer *out);
int rt_standardizer_apply(const rt_standardizer *s, rt_dataset *d);
void rt_standardizer_free(rt_standardizer *s);
/* As checkpoint metadata: "dlc.standardize.mean" and "dlc.standardize.std", each a
 * JSON array of numbers that read back as the same floats. Strings are malloc'd. */
int rt_standardizer_to_meta(const rt_standardizer *s, char **mean_json, char **std_json);
int rt_standardizer_from_meta(const char *mean_json, const char *std_json, rt_standardizer *out);
#define RT_META_MEAN "dlc.standardize.mean"
#define RT_META_STD "dlc.standardize.std"

/* ---- the loop (train_loop.c) ------------------------------------------------------- */

/* A model compiled for another batch size (the last partial batch of an epoch, of the
 * test set). The factory keeps ownership; it returns NULL with dlc_last_error() set on
 * failure. Its parameters need not be initialised: the loop copies them in. */
typedef dlc_model *(*rt_model_factory)(void *ctx, int64_t batch);

/* Copies every parameter (and, with `state`, every optimiser state tensor) from src to
 * dst; both must have the same tensors (names, dtypes, shapes). */
int rt_model_copy(dlc_model *dst, const dlc_model *src, int state);

typedef struct {
  int epoch;              /* 1-based */
  int epochs;
  int64_t step;           /* 1-based, within the epoch */
  int64_t steps;          /* per epoch, the partial batch included */
  int64_t samples;        /* trained on so far in this epoch */
  int64_t epoch_samples;  /* rows of the training set */
  double loss;            /* mean loss of the epoch so far (by samples) */
  double last_loss;       /* the loss of this step */
  double seconds;         /* since the epoch started */
  int64_t run_step;       /* 1-based, over the whole run (resumed steps counted) */
} rt_train_progress;

typedef struct {
  int epoch;
  double train_loss;      /* mean of the epoch's step losses, weighted by batch size */
  double train_accuracy;  /* classifiers, with the parameters at the epoch's end; else NAN */
  double test_loss;       /* NAN without a test set */
  double test_accuracy;   /* NAN without a test set or for a regression model */
  double seconds;         /* training time of the epoch (evaluation left out) */
  double samples_per_s;
  int64_t steps;
} rt_epoch_stats;

typedef struct {
  /* After every step; 0 goes on, > 0 stops (an interrupt, say), < 0 fails with the
   * message in dlc_last_error(). May be NULL. */
  int (*on_step)(void *ctx, const rt_train_progress *p);
  /* After every epoch's evaluation; the same return values (a checkpoint that could not
   * be written fails). May be NULL. */
  int (*on_epoch)(void *ctx, const rt_epoch_stats *s);
  void *ctx;
} rt_train_hooks;

/* Data-parallel training across processes. The runtime links no transport: the caller
 * (the dlc driver, over MPI) gives it a sum across processes. With size > 1 the model
 * passed to rt_train is compiled for the local batch B / size; every rank walks the same
 * seeded permutation, takes its slice of each global batch of B rows, computes gradients
 * (dlc_gradients) weighted by its share of the batch, sums them with `allreduce_sum`,
 * and applies the update (dlc_apply), so every rank holds the same parameters. The
 * step's loss and a stop request travel in a second, two-element sum. Only rank 0
 * evaluates after an epoch (the other ranks' on_epoch sees NAN statistics). */
typedef struct {
  int rank, size;
  /* Sums data[0..n) element-wise over every rank, in place; the same call on every rank.
   * 0, or -1 with dlc_last_error() set. */
  int (*allreduce_sum)(void *ctx, float *data, int64_t n);
  void *ctx;
  double allreduce_seconds; /* out: time spent in allreduce_sum */
} rt_dist;

typedef struct {
  int epochs;
  uint64_t seed;          /* shuffling stream */
  rt_dist *dist;          /* NULL or size <= 1: one process (the fused step) */
  int64_t skip_steps;     /* resuming: steps of the run already taken (the shuffles are
                             still drawn, so the rest of the run is the one it would be) */
  int shuffle;            /* nonzero: a fresh seeded permutation every epoch */
  int evaluate_train;     /* after each epoch, the training set's accuracy (classifiers) */
} rt_train_config;

typedef enum {
  RT_TRAIN_DONE,
  RT_TRAIN_STOPPED,   /* a hook asked to stop */
  RT_TRAIN_DIVERGED,  /* the loss became NaN or infinite */
  RT_TRAIN_FAILED,    /* an error; dlc_last_error() says which */
} rt_train_status;

typedef struct {
  rt_train_status status;
  int epochs_done;
  int64_t steps;          /* every step taken */
  double seconds;         /* training time, evaluation left out */
  int bad_epoch;          /* DIVERGED: where (1-based), and the loss it gave */
  int64_t bad_step;
  double bad_loss;
} rt_train_result;

/* Whether a model and its data make a classifier: integer labels and a prediction of
 * one score per class ([batch, C], C >= 2). */
int rt_is_classifier(const dlc_model_desc *desc, const rt_dataset *d);

/* Trains `model` (compiled for batch B) on `train` for cfg->epochs epochs: each epoch a
 * seeded permutation, full batches through `model`, the remaining rows % B through a
 * model of that batch from `factory`. `test` (may be NULL) is evaluated after each epoch.
 * Distributed (cfg->dist with size > 1): the global batch is B * size (see rt_dist). */
int rt_train(dlc_model *model, rt_model_factory factory, void *factory_ctx,
             const rt_dataset *train, const rt_dataset *test, const rt_train_config *cfg,
             const rt_train_hooks *hooks, rt_train_result *result);

/* Mean loss over every row of `d` (batches in order, the remainder through the
 * factory's model), and the accuracy of argmax(prediction) for classifiers (else NAN).
 * `accuracy` may be NULL (then no forward pass runs). */
int rt_evaluate(dlc_model *model, rt_model_factory factory, void *factory_ctx,
                const rt_dataset *d, double *loss, double *accuracy);

/* Calls `fn` with the model's prediction for rows [first, first + n) of `d`, batch by
 * batch in order: pred is [n, width] floats. For `dlc predict`. */
typedef int (*rt_prediction_fn)(void *ctx, int64_t first, int64_t n, int64_t width,
                                const float *pred);
int rt_predict(dlc_model *model, rt_model_factory factory, void *factory_ctx,
               const rt_dataset *d, rt_prediction_fn fn, void *ctx);

#endif

/* The training loop over the public ABI: epochs of seeded shuffles, full batches through
 * the model compiled for batch B, the rows % B left over through a model compiled for
 * that size (parameters and optimiser state copied in and back, so no row is dropped and
 * the update is the one a batch of that size gives), evaluation after each epoch, and a
 * stop at the first loss that is not finite.
 *
 * Timing uses the monotonic clock; everything else is plain C over dlc.h and rt.h. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime, when built outside CMake (train.so) */
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_train.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int same_tensor(const dlc_tensor *a, const dlc_tensor *b) {
  if (strcmp(a->name, b->name) || a->dtype != b->dtype || a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

static size_t bytes_of(const dlc_tensor *t) { return (size_t)rt_numel(t->rank, t->shape) * rt_dtype_size(t->dtype); }

int rt_model_copy(dlc_model *dst, const dlc_model *src, int state) {
  if (dst == src) return 0;
  const dlc_model_desc *dd = rt_model_desc(dst), *sd = rt_model_desc(src);
  if (!dd || !sd || dd->nparams != sd->nparams || (state && dd->nstate != sd->nstate)) {
    rt_set_error("the models compiled for batch %d and %d have different parameters", sd ? sd->batch : 0,
                 dd ? dd->batch : 0);
    return -1;
  }
  int n = dd->nparams + (state ? dd->nstate : 0);
  for (int i = 0; i < n; i++) {
    dlc_tensor a, b;
    int p = i < dd->nparams;
    if (p ? dlc_param(src, i, &a) || dlc_param(dst, i, &b)
          : rt_model_state(src, i - dd->nparams, &a) || rt_model_state(dst, i - dd->nparams, &b))
      return -1;
    if (!same_tensor(&a, &b)) {
      rt_set_error("the models compiled for batch %d and %d differ in %s '%s'", sd->batch, dd->batch,
                   p ? "parameter" : "state tensor", a.name);
      return -1;
    }
    memcpy(b.data, a.data, bytes_of(&a));
  }
  /* Adam's step counter may sit in the state block outside every state tensor. */
  if (state && sd->step_counter_offset >= 0 && dd->step_counter_offset >= 0 && sd->nstate > 0) {
    dlc_tensor a, b;
    if (rt_model_state(src, 0, &a) || rt_model_state(dst, 0, &b)) return -1;
    const char *sbase = (const char *)a.data - sd->state[0].offset;
    char *dbase = (char *)b.data - dd->state[0].offset;
    memcpy(dbase + dd->step_counter_offset, sbase + sd->step_counter_offset, sizeof(float));
  }
  return 0;
}

static int64_t pred_width(const dlc_model_desc *desc) {
  int64_t n = rt_numel(desc->prediction.rank, desc->prediction.shape);
  return desc->batch > 0 && n > 0 ? n / desc->batch : 0;
}

int rt_is_classifier(const dlc_model_desc *desc, const rt_dataset *d) {
  if (d->label < 0) return 0;
  int dt = d->arrays[d->label].dtype;
  return (dt == DLC_I32 || dt == DLC_I64) && desc->prediction.rank >= 2 && pred_width(desc) >= 2;
}

/* Batch buffers of the main model's batch size, one per array, plus index scratch. */
typedef struct {
  void *bufs[RT_DATA_MAX_ARRAYS];
  int64_t *idx;
  float *pred;
} batch_bufs;

static void bufs_free(batch_bufs *b) {
  for (int a = 0; a < RT_DATA_MAX_ARRAYS; a++) free(b->bufs[a]);
  free(b->idx);
  free(b->pred);
  memset(b, 0, sizeof *b);
}

static int bufs_alloc(const dlc_model_desc *desc, const rt_dataset *d, int64_t rows, batch_bufs *b) {
  memset(b, 0, sizeof *b);
  if (d->narrays != desc->ninputs) {
    rt_set_error("the data have %d arrays but the model takes %d inputs", d->narrays, desc->ninputs);
    return -1;
  }
  for (int a = 0; a < d->narrays; a++)
    if (!(b->bufs[a] = rt_alloc_zeroed((size_t)(desc->batch * d->arrays[a].width) * rt_dtype_size(d->arrays[a].dtype))))
      goto oom;
  b->idx = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *b->idx);
  b->pred = calloc((size_t)(desc->batch * (pred_width(desc) ? pred_width(desc) : 1)), sizeof(float));
  if (!b->idx || !b->pred) goto oom;
  return 0;
oom:
  bufs_free(b);
  rt_set_error("out of memory");
  return -1;
}

/* The model for a batch of n rows: `model` itself for its own batch size, else one from
 * the factory with the parameters (and state, for training) of `model` copied in. */
static dlc_model *model_for(dlc_model *model, rt_model_factory factory, void *ctx, int64_t n, int state) {
  if (n == rt_model_desc(model)->batch) return model;
  if (!factory) {
    rt_set_error("no model compiled for a batch of %lld rows", (long long)n);
    return NULL;
  }
  dlc_model *m = factory(ctx, n);
  if (!m) return NULL;
  if (rt_model_desc(m)->batch != n) {
    rt_set_error("asked for a model of batch %lld, got one of batch %d", (long long)n, rt_model_desc(m)->batch);
    return NULL;
  }
  return rt_model_copy(m, model, state) ? NULL : m;
}

static int64_t argmax(const float *v, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

static int64_t label_at(const rt_dataset *d, int64_t row) {
  const rt_data_array *a = &d->arrays[d->label];
  return a->dtype == DLC_I32 ? ((const int32_t *)a->data)[row] : ((const int64_t *)a->data)[row];
}

/* Runs batches of rows in order: the loss of each (when loss_sum) and the prediction (when
 * `fn` or `correct`), through the models of the right sizes. */
static int run_in_order(dlc_model *model, rt_model_factory factory, void *ctx, const rt_dataset *d,
                        double *loss_sum, int64_t *correct, rt_prediction_fn fn, void *fn_ctx) {
  const dlc_model_desc *desc = rt_model_desc(model);
  batch_bufs b;
  if (bufs_alloc(desc, d, d->rows, &b)) return -1;
  int64_t width = pred_width(desc), B = desc->batch;
  int status = -1;
  if (loss_sum) *loss_sum = 0;
  if (correct) *correct = 0;
  for (int64_t first = 0; first < d->rows; first += B) {
    int64_t n = d->rows - first < B ? d->rows - first : B;
    dlc_model *m = model_for(model, factory, ctx, n, 0);
    if (!m) goto done;
    for (int64_t i = 0; i < n; i++) b.idx[i] = first + i;
    rt_data_gather(d, b.idx, n, b.bufs);
    const void *const *inputs = (const void *const *)b.bufs;
    if (loss_sum) {
      float l = dlc_eval_loss(m, inputs);
      *loss_sum += (double)l * (double)n;
    }
    if (fn || correct) {
      rt_clear_error();
      dlc_forward(m, inputs, b.pred);
      if (*dlc_last_error()) goto done;
      if (correct)
        for (int64_t i = 0; i < n; i++) *correct += argmax(b.pred + i * width, width) == label_at(d, first + i);
      if (fn && fn(fn_ctx, first, n, width, b.pred)) goto done;
    }
  }
  status = 0;
done:
  bufs_free(&b);
  return status;
}

int rt_evaluate(dlc_model *model, rt_model_factory factory, void *ctx, const rt_dataset *d, double *loss,
                double *accuracy) {
  int classify = accuracy && rt_is_classifier(rt_model_desc(model), d) && !d->unlabeled;
  double sum;
  int64_t correct;
  if (accuracy) *accuracy = NAN;
  if (run_in_order(model, factory, ctx, d, loss ? &sum : NULL, classify ? &correct : NULL, NULL, NULL)) return -1;
  if (loss) *loss = sum / (double)d->rows;
  if (classify) *accuracy = (double)correct / (double)d->rows;
  return 0;
}

int rt_predict(dlc_model *model, rt_model_factory factory, void *ctx, const rt_dataset *d, rt_prediction_fn fn,
               void *fn_ctx) {
  return run_in_order(model, factory, ctx, d, NULL, NULL, fn, fn_ctx);
}

/* One epoch's evaluation into s: the test set, and the training set's accuracy. */
static int evaluate_epoch(dlc_model *model, rt_model_factory factory, void *ctx, const rt_dataset *train,
                          const rt_dataset *test, const rt_train_config *cfg, rt_epoch_stats *s) {
  s->test_loss = s->test_accuracy = s->train_accuracy = NAN;
  /* Every rank holds the same parameters: rank 0's evaluation is everyone's. */
  if (cfg->dist && cfg->dist->size > 1 && cfg->dist->rank != 0) return 0;
  if (test && rt_evaluate(model, factory, ctx, test, &s->test_loss, &s->test_accuracy)) return -1;
  if (cfg->evaluate_train && rt_is_classifier(rt_model_desc(model), train) &&
      rt_evaluate(model, factory, ctx, train, NULL, &s->train_accuracy))
    return -1;
  return 0;
}

/* The rows of a global batch of n that `rank` of `size` takes: [lo, lo + count). Equal
 * slices when n divides by size; otherwise the first ranks take one row fewer. */
static void dist_slice(const rt_dist *d, int64_t n, int64_t *lo, int64_t *count) {
  *lo = n * d->rank / d->size;
  *count = n * (d->rank + 1) / d->size - *lo;
}

/* One data-parallel step over the global batch idx[0..n): this rank's gradients, weighted
 * by its share of the batch (n_r / n: with equal slices, the sum over ranks is then the
 * mean of the rank means, which is the global batch's mean), summed over the ranks into
 * `model`'s gradient buffer, then applied. `tail` is the model for a slice of another size
 * (the last partial batch). The loss of the global batch and whether any rank asked to stop
 * come back, the same on every rank. */
static int dist_step(dlc_model *model, dlc_model *tail, const rt_dataset *d, const int64_t *idx, int64_t n,
                     rt_dist *dist, batch_bufs *b, int stop_in, float *loss, int *stop_out) {
  int64_t lo, nl, count, mcount;
  dist_slice(dist, n, &lo, &nl);
  float *g = dlc_grad_buffer(model, &count);
  if (!g) return -1;
  float w = (float)((double)nl / (double)n), local = 0;
  if (nl > 0) {
    dlc_model *m = nl == rt_model_desc(model)->batch ? model : tail;
    if (!m) {
      rt_set_error("no model compiled for a slice of %lld rows", (long long)nl);
      return -1;
    }
    if (m != model && rt_model_copy(m, model, 0)) return -1;
    rt_data_gather(d, idx + lo, nl, b->bufs);
    rt_clear_error();
    local = dlc_gradients(m, (const void *const *)b->bufs);
    if (*dlc_last_error()) return -1;
    float *mg = dlc_grad_buffer(m, &mcount);
    if (!mg) return -1;
    if (mcount != count) {
      rt_set_error("the models compiled for batch %d and %d have gradient buffers of different sizes",
                   rt_model_desc(model)->batch, rt_model_desc(m)->batch);
      return -1;
    }
    if (w != 1.0f || mg != g)
      for (int64_t i = 0; i < count; i++) g[i] = mg[i] * w;
  } else {
    memset(g, 0, (size_t)count * sizeof *g); /* a rank without rows adds nothing */
  }
  float stats[2] = {local * w, stop_in ? 1.0f : 0.0f};
  double t = now();
  if (dist->allreduce_sum(dist->ctx, g, count) || dist->allreduce_sum(dist->ctx, stats, 2)) return -1;
  dist->allreduce_seconds += now() - t;
  rt_clear_error();
  dlc_apply(model);
  if (*dlc_last_error()) return -1;
  *loss = stats[0];
  *stop_out = stats[1] > 0;
  return 0;
}

int rt_train(dlc_model *model, rt_model_factory factory, void *ctx, const rt_dataset *train,
             const rt_dataset *test, const rt_train_config *cfg, const rt_train_hooks *hooks,
             rt_train_result *result) {
  memset(result, 0, sizeof *result);
  result->status = RT_TRAIN_FAILED;
  const dlc_model_desc *desc = rt_model_desc(model);
  if (!desc || desc->batch < 1 || train->rows < 1) {
    rt_set_error("nothing to train: %s", !desc ? "no model" : train->rows < 1 ? "no rows" : "no batch size");
    return -1;
  }
  rt_dist *dist = cfg->dist && cfg->dist->size > 1 ? cfg->dist : NULL;
  if (dist && (!dist->allreduce_sum || dist->rank < 0 || dist->rank >= dist->size)) {
    rt_set_error("distributed training without a sum across ranks, or rank %d of %d", dist->rank, dist->size);
    return -1;
  }
  /* B is the global batch: the model's own batch on every rank together. */
  int64_t B = (int64_t)desc->batch * (dist ? dist->size : 1), rows = train->rows, full = rows / B, rem = rows % B;
  int64_t steps = full + (rem > 0);
  batch_bufs b;
  if (bufs_alloc(desc, train, rows, &b)) return -1;
  /* Ask for the remainder's model now: a failure to compile it should come before the
   * first epoch, not after it. Distributed, it is this rank's slice of the remainder. */
  int64_t tail_rows = rem, tail_lo;
  if (dist) dist_slice(dist, rem, &tail_lo, &tail_rows);
  dlc_model *tail = tail_rows ? model_for(model, factory, ctx, tail_rows, !dist) : NULL;
  if (tail_rows && !tail) {
    bufs_free(&b);
    return -1;
  }
  int stop_pending = 0;
  rt_rng rng;
  rt_rng_seed_stream(&rng, cfg->seed, rt_stream_id("shuffle"));
  for (int64_t i = 0; i < rows; i++) b.idx[i] = i;
  const void *const *inputs = (const void *const *)b.bufs;
  int status = -1;

  for (int epoch = 1; epoch <= cfg->epochs; epoch++) {
    if (cfg->shuffle) rt_rng_permutation(&rng, b.idx, rows);
    double t0 = now(), loss_sum = 0;
    int64_t samples = 0;
    /* Resuming: an epoch whose steps were all taken is skipped whole. */
    if ((int64_t)epoch * steps <= cfg->skip_steps) continue;
    for (int64_t s = 0; s < steps; s++) {
      int64_t n = s < full ? B : rem, run_step = (int64_t)(epoch - 1) * steps + s + 1;
      if (run_step <= cfg->skip_steps) continue;
      float loss;
      if (dist) {
        int stop;
        if (dist_step(model, tail, train, b.idx + s * B, n, dist, &b, stop_pending, &loss, &stop)) goto done;
        if (stop) {
          /* Every rank stops after the same step: no rank is left waiting in a sum. */
          result->steps++;
          result->status = RT_TRAIN_STOPPED;
          result->seconds += now() - t0;
          status = 0;
          goto done;
        }
      } else {
        dlc_model *m = s < full ? model : tail;
        if (m != model && rt_model_copy(m, model, 1)) goto done;
        rt_data_gather(train, b.idx + s * B, n, b.bufs);
        loss = dlc_train_step(m, inputs);
        if (m != model && rt_model_copy(model, m, 1)) goto done;
      }
      result->steps++;
      if (!isfinite(loss)) {
        result->status = RT_TRAIN_DIVERGED;
        result->bad_epoch = epoch;
        result->bad_step = s + 1;
        result->bad_loss = loss;
        result->seconds += now() - t0;
        status = 0;
        goto done;
      }
      loss_sum += (double)loss * (double)n;
      samples += n;
      if (hooks && hooks->on_step) {
        rt_train_progress p = {.epoch = epoch, .epochs = cfg->epochs, .step = s + 1, .steps = steps,
                               .samples = samples, .epoch_samples = rows, .loss = loss_sum / (double)samples,
                               .last_loss = loss, .seconds = now() - t0, .run_step = run_step};
        int rc = hooks->on_step(hooks->ctx, &p);
        if (rc > 0 && dist) {
          /* A stop on one rank becomes everyone's at the next step's sum. */
          stop_pending = 1;
          rc = 0;
        }
        if (rc) {
          result->status = rc < 0 ? RT_TRAIN_FAILED : RT_TRAIN_STOPPED;
          result->seconds += now() - t0;
          status = rc < 0 ? -1 : 0;
          goto done;
        }
      }
    }
    double secs = now() - t0;
    result->seconds += secs;
    result->epochs_done = epoch;
    rt_epoch_stats st = {.epoch = epoch, .train_loss = loss_sum / (double)samples, .seconds = secs,
                         .samples_per_s = secs > 0 ? (double)samples / secs : 0, .steps = steps};
    if (evaluate_epoch(model, factory, ctx, train, test, cfg, &st)) goto done;
    int rc = hooks && hooks->on_epoch ? hooks->on_epoch(hooks->ctx, &st) : 0;
    if (rc) {
      result->status = rc < 0 ? RT_TRAIN_FAILED : RT_TRAIN_STOPPED;
      status = rc < 0 ? -1 : 0;
      goto done;
    }
  }
  result->status = RT_TRAIN_DONE;
  status = 0;
done:
  bufs_free(&b);
  return status;
}

/* The training loop (runtime/train_loop.c) over hand-written models: plain C entry points
 * behind a dlc_model_desc, so the loop is tested without the compiler. A "counting"
 * model records which rows each step saw; a linear-regression model checks that the
 * loop really trains; a model whose loss turns NaN checks the stop. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "rt_train.h"

/* ---- a model that counts the rows it is trained on ------------------------------------- */

enum { ROWS = 10 };

/* Every step appends the ids it saw, in order, here. */
static int seen[4096];
static int nseen;

/* Inputs: id f32[B, 1], y i32[B]. Params: counts f32[ROWS]. State: steps f32[1].
 * The step adds 1 to counts[id] for every row and 1 to steps; the loss is the mean id. */
#define COUNTING(B)                                                                                  \
  static void count_step_##B(dlc_frame *f) {                                                         \
    const float *id = f->inputs[0];                                                                  \
    float *counts = f->params, *steps = f->state;                                                    \
    double sum = 0;                                                                                  \
    for (int i = 0; i < B; i++) {                                                                    \
      counts[(int)id[i]] += 1;                                                                       \
      seen[nseen++] = (int)id[i];                                                                    \
      sum += id[i];                                                                                  \
    }                                                                                                \
    steps[0] += 1;                                                                                   \
    *f->loss = (float)(sum / B);                                                                     \
  }                                                                                                  \
  static void count_eval_##B(dlc_frame *f) {                                                         \
    const float *id = f->inputs[0];                                                                  \
    double sum = 0;                                                                                  \
    for (int i = 0; i < B; i++) sum += id[i];                                                        \
    *f->loss = (float)(sum / B);                                                                     \
  }                                                                                                  \
  static void count_forward_##B(dlc_frame *f) {                                                      \
    /* two class scores: class 1 wins for odd ids */                                                 \
    const float *id = f->inputs[0];                                                                  \
    float *p = f->prediction;                                                                        \
    for (int i = 0; i < B; i++) {                                                                    \
      p[2 * i] = (int)id[i] % 2 ? 0.f : 1.f;                                                         \
      p[2 * i + 1] = (int)id[i] % 2 ? 1.f : 0.f;                                                     \
    }                                                                                                \
  }                                                                                                  \
  static const dlc_tensor_desc count_inputs_##B[] = {                                                \
      {.name = "id", .dtype = DLC_F32, .rank = 2, .shape = {B, 1}},                                  \
      {.name = "y", .dtype = DLC_I32, .rank = 1, .shape = {B}}};                                     \
  static const dlc_model_desc count_desc_##B = {                                                     \
      .abi_version = DLC_ABI_VERSION, .batch = B, .ninputs = 2, .nparams = 1, .nstate = 1,           \
      .inputs = count_inputs_##B, .params = count_params, .state = count_state,                     \
      .prediction = {.name = "prediction", .dtype = DLC_F32, .rank = 2, .shape = {B, 2}},            \
      .param_bytes = ROWS * 4, .state_bytes = 4, .scratch_bytes = 0, .step_counter_offset = -1,     \
      .train_step = count_step_##B, .eval_loss = count_eval_##B, .forward = count_forward_##B};

static const dlc_tensor_desc count_params[] = {
    {.name = "counts", .dtype = DLC_F32, .rank = 1, .shape = {ROWS}, .offset = 0, .init = "zeros"}};
static const dlc_tensor_desc count_state[] = {
    {.name = "steps", .dtype = DLC_F32, .rank = 1, .shape = {1}, .offset = 0, .init = "zeros"}};

COUNTING(4)
COUNTING(2)
COUNTING(3)

/* Models for other batch sizes, as the driver's JIT would compile them. */
static dlc_model *made[8];
static int factory_calls;

static dlc_model *factory(void *ctx, int64_t batch) {
  (void)ctx;
  factory_calls++;
  const dlc_model_desc *d = batch == 2 ? &count_desc_2 : batch == 3 ? &count_desc_3 : NULL;
  if (!d) {
    rt_set_error("no model for batch %lld", (long long)batch);
    return NULL;
  }
  if (!made[batch]) made[batch] = dlc_create_from(d, 0);
  return made[batch];
}

static void reset(void) {
  nseen = 0;
  factory_calls = 0;
  for (int i = 0; i < 8; i++) {
    dlc_destroy(made[i]);
    made[i] = NULL;
  }
}

/* ids 0..n-1, labels id % 2 */
static void make_rows(rt_dataset *d, int n) {
  memset(d, 0, sizeof *d);
  d->rows = n;
  d->narrays = 2;
  d->label = 1;
  d->nclasses = 2;
  float *id = malloc(sizeof(float) * (size_t)n);
  int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
  for (int i = 0; i < n; i++) {
    id[i] = (float)i;
    y[i] = i % 2;
  }
  d->arrays[0] = (rt_data_array){.name = strdup("id"), .dtype = DLC_F32, .width = 1, .data = id};
  d->arrays[1] = (rt_data_array){.name = strdup("y"), .dtype = DLC_I32, .width = 1, .data = y};
}

static float param0(dlc_model *m, int i) {
  dlc_tensor t;
  cr_assert_eq(dlc_param(m, 0, &t), 0);
  return ((float *)t.data)[i];
}

static float state0(dlc_model *m) {
  dlc_tensor t;
  cr_assert_eq(rt_model_state(m, 0, &t), 0);
  return ((float *)t.data)[0];
}

Test(train_loop, every_row_once_per_epoch_with_the_partial_batch) {
  reset();
  rt_dataset d;
  make_rows(&d, ROWS);
  dlc_model *m = dlc_create_from(&count_desc_4, 0);
  cr_assert_not_null(m, "%s", dlc_last_error());
  rt_train_config cfg = {.epochs = 3, .seed = 7, .shuffle = 1};
  rt_train_result res;
  cr_assert_eq(rt_train(m, factory, NULL, &d, NULL, &cfg, NULL, &res), 0, "%s", dlc_last_error());
  cr_assert_eq(res.status, RT_TRAIN_DONE);
  cr_assert_eq(res.epochs_done, 3);
  /* 10 rows, batch 4: two full batches and one of 2, each epoch */
  cr_assert_eq(res.steps, 9);
  cr_assert_eq(nseen, 30);
  for (int i = 0; i < ROWS; i++) cr_assert_eq(param0(m, i), 3.0f, "row %d was trained on %g times", i, param0(m, i));
  /* the partial batch's updates of parameters and state came back to the main model */
  cr_assert_eq(state0(m), 9.0f);
  /* each epoch's ids are a permutation of 0..9 */
  for (int e = 0; e < 3; e++) {
    int hits[ROWS] = {0};
    for (int i = 0; i < ROWS; i++) hits[seen[e * ROWS + i]]++;
    for (int i = 0; i < ROWS; i++) cr_assert_eq(hits[i], 1);
  }
  dlc_destroy(m);
  rt_data_free(&d);
  reset();
}

static void record_order(uint64_t seed, int shuffle, int *out) {
  reset();
  rt_dataset d;
  make_rows(&d, ROWS);
  dlc_model *m = dlc_create_from(&count_desc_4, 0);
  rt_train_config cfg = {.epochs = 2, .seed = seed, .shuffle = shuffle};
  rt_train_result res;
  cr_assert_eq(rt_train(m, factory, NULL, &d, NULL, &cfg, NULL, &res), 0, "%s", dlc_last_error());
  memcpy(out, seen, sizeof(int) * 2 * ROWS);
  dlc_destroy(m);
  rt_data_free(&d);
  reset();
}

Test(train_loop, shuffling_is_seeded_and_reproducible) {
  int a[2 * ROWS], b[2 * ROWS], c[2 * ROWS], plain[2 * ROWS];
  record_order(11, 1, a);
  record_order(11, 1, b);
  record_order(12, 1, c);
  record_order(11, 0, plain);
  cr_assert_arr_eq(a, b, sizeof a, "the same seed gave another order");
  cr_assert(memcmp(a, c, sizeof a) != 0, "another seed gave the same order");
  cr_assert(memcmp(a, a + ROWS, sizeof(int) * ROWS) != 0, "two epochs saw the same order");
  for (int i = 0; i < 2 * ROWS; i++) cr_assert_eq(plain[i], i % ROWS, "without shuffling, rows go in order");
}

Test(train_loop, a_batch_that_divides_needs_no_second_model) {
  reset();
  rt_dataset d;
  make_rows(&d, 8);
  dlc_model *m = dlc_create_from(&count_desc_4, 0);
  rt_train_config cfg = {.epochs = 2, .seed = 1, .shuffle = 1};
  rt_train_result res;
  cr_assert_eq(rt_train(m, factory, NULL, &d, NULL, &cfg, NULL, &res), 0);
  cr_assert_eq(res.steps, 4);
  cr_assert_eq(factory_calls, 0);
  dlc_destroy(m);
  rt_data_free(&d);
  reset();
}

Test(train_loop, evaluation_counts_every_row_and_scores_classes) {
  reset();
  rt_dataset d;
  make_rows(&d, ROWS);
  /* one label wrong: the forward pass says class 1 for id 3, the label says 0 */
  ((int32_t *)d.arrays[1].data)[3] = 0;
  dlc_model *m = dlc_create_from(&count_desc_4, 0);
  double loss, acc;
  cr_assert_eq(rt_evaluate(m, factory, NULL, &d, &loss, &acc), 0, "%s", dlc_last_error());
  /* batches 0-3, 4-7 (batch 4) and 8-9 (batch 2): the mean of 0..9 by rows */
  cr_assert_float_eq(loss, 4.5, 1e-6);
  cr_assert_float_eq(acc, 0.9, 1e-12);
  cr_assert(rt_is_classifier(&count_desc_4, &d));
  dlc_destroy(m);
  rt_data_free(&d);
  reset();
}

typedef struct {
  int epochs_seen, steps_seen;
  rt_epoch_stats last;
} hook_log;

static int log_step(void *ctx, const rt_train_progress *p) {
  hook_log *l = ctx;
  l->steps_seen++;
  cr_assert(p->samples <= p->epoch_samples);
  cr_assert(p->step <= p->steps);
  return 0;
}

static int log_epoch(void *ctx, const rt_epoch_stats *s) {
  hook_log *l = ctx;
  l->epochs_seen++;
  l->last = *s;
  return s->epoch == 2; /* stop after the second */
}

Test(train_loop, hooks_see_every_step_and_can_stop) {
  reset();
  rt_dataset d, test;
  make_rows(&d, ROWS);
  make_rows(&test, 3);
  dlc_model *m = dlc_create_from(&count_desc_4, 0);
  hook_log log = {0};
  rt_train_hooks hooks = {.on_step = log_step, .on_epoch = log_epoch, .ctx = &log};
  rt_train_config cfg = {.epochs = 5, .seed = 1, .shuffle = 1, .evaluate_train = 1};
  rt_train_result res;
  cr_assert_eq(rt_train(m, factory, NULL, &d, &test, &cfg, &hooks, &res), 0, "%s", dlc_last_error());
  cr_assert_eq(res.status, RT_TRAIN_STOPPED);
  cr_assert_eq(log.epochs_seen, 2);
  cr_assert_eq(log.steps_seen, 6);
  cr_assert_float_eq(log.last.train_loss, 4.5, 1e-6);
  cr_assert_float_eq(log.last.test_loss, 1.0, 1e-6);     /* ids 0, 1, 2 */
  cr_assert_float_eq(log.last.test_accuracy, 1.0, 1e-12);
  cr_assert_float_eq(log.last.train_accuracy, 1.0, 1e-12);
  dlc_destroy(m);
  rt_data_free(&d);
  rt_data_free(&test);
  reset();
}

/* ---- a model whose loss turns NaN ------------------------------------------------------- */

static int nan_after;

static void nan_step(dlc_frame *f) {
  float *calls = f->params;
  calls[0] += 1;
  *f->loss = calls[0] > (float)nan_after ? NAN : 1.0f / calls[0];
}

static const dlc_tensor_desc nan_inputs[] = {{.name = "x", .dtype = DLC_F32, .rank = 2, .shape = {5, 1}}};
static const dlc_tensor_desc nan_params[] = {{.name = "calls", .dtype = DLC_F32, .rank = 1, .shape = {1}}};
static const dlc_model_desc nan_desc = {
    .abi_version = DLC_ABI_VERSION, .batch = 5, .ninputs = 1, .nparams = 1, .inputs = nan_inputs,
    .params = nan_params, .prediction = {.dtype = DLC_F32, .rank = 2, .shape = {5, 1}}, .param_bytes = 4,
    .step_counter_offset = -1, .train_step = nan_step};

Test(train_loop, a_nan_loss_stops_with_epoch_and_step) {
  rt_dataset d = {.rows = 20, .narrays = 1, .label = -1};
  d.arrays[0] = (rt_data_array){.name = strdup("x"), .dtype = DLC_F32, .width = 1, .data = calloc(20, 4)};
  dlc_model *m = dlc_create_from(&nan_desc, 0);
  cr_assert_not_null(m, "%s", dlc_last_error());
  nan_after = 6; /* 4 steps an epoch: the 7th step is epoch 2, step 3 */
  hook_log log = {0};
  rt_train_hooks hooks = {.on_epoch = log_epoch, .ctx = &log};
  rt_train_config cfg = {.epochs = 10, .seed = 1, .shuffle = 1};
  rt_train_result res;
  cr_assert_eq(rt_train(m, NULL, NULL, &d, NULL, &cfg, &hooks, &res), 0, "%s", dlc_last_error());
  cr_assert_eq(res.status, RT_TRAIN_DIVERGED);
  cr_assert_eq(res.bad_epoch, 2);
  cr_assert_eq(res.bad_step, 3);
  cr_assert(isnan(res.bad_loss));
  cr_assert_eq(log.epochs_seen, 1, "the diverged epoch must not be reported as finished");
  dlc_destroy(m);
  rt_data_free(&d);
}

Test(train_loop, copying_parameters_checks_the_tensors) {
  reset();
  dlc_model *a = dlc_create_from(&count_desc_4, 0), *b = dlc_create_from(&count_desc_2, 0);
  dlc_tensor t;
  dlc_param(a, 0, &t);
  for (int i = 0; i < ROWS; i++) ((float *)t.data)[i] = (float)i * 0.5f;
  rt_model_state(a, 0, &t);
  ((float *)t.data)[0] = 42;
  cr_assert_eq(rt_model_copy(b, a, 1), 0);
  for (int i = 0; i < ROWS; i++) cr_assert_eq(param0(b, i), (float)i * 0.5f);
  cr_assert_eq(state0(b), 42.0f);
  dlc_model *n = dlc_create_from(&nan_desc, 0);
  cr_assert_neq(rt_model_copy(n, a, 0), 0);
  cr_assert(strstr(dlc_last_error(), "counts") || strstr(dlc_last_error(), "different"), "%s", dlc_last_error());
  dlc_destroy(a);
  dlc_destroy(b);
  dlc_destroy(n);
}

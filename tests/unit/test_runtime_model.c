/* The dlc_* ABI end to end over a hand-written model: linear regression with SGD and
 * momentum, its entry points written in C here the way the compiler would generate
 * them (one frame in, loss and prediction out, updates in place). Proves create (seeded
 * init, zeroed state, one aligned block), training, the data-parallel halves, parameter
 * enumeration, and checkpoints that restore training exactly. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"
#include "rt_prep.h"
#include "rt_train.h"

enum { B = 8 }; /* the batch the "compiled" entries expect */
static const float LR = 0.05f, MOMENTUM = 0.9f;

/* params: w f32[2,1] at 0, b f32[1] at 8; state: the momentum buffers at the same
 * offsets, then an f32 step count at 12 that no state tensor covers. */
static const dlc_tensor_desc lin_inputs[2] = {
    {.name = "x", .dtype = DLC_F32, .rank = 2, .shape = {B, 2}},
    {.name = "y", .dtype = DLC_F32, .rank = 2, .shape = {B, 1}},
};
static const dlc_tensor_desc lin_params[2] = {
    {.name = "w", .dtype = DLC_F32, .rank = 2, .shape = {2, 1}, .offset = 0, .init = "normal(0, 0.01)"},
    {.name = "b", .dtype = DLC_F32, .rank = 1, .shape = {1}, .offset = 8, .init = "zeros"},
};
static const dlc_tensor_desc lin_state[2] = {
    {.name = "w.momentum", .dtype = DLC_F32, .rank = 2, .shape = {2, 1}, .offset = 0},
    {.name = "b.momentum", .dtype = DLC_F32, .rank = 1, .shape = {1}, .offset = 8},
};

/* forward: prediction[B,1] = x @ w + b; residuals r = prediction - y go to scratch. */
static float lin_forward_loss(dlc_frame *f, float *pred) {
  const float *x = f->inputs[0], *y = f->inputs[1], *p = f->params;
  float *r = f->scratch;
  float loss = 0;
  for (int i = 0; i < B; i++) {
    pred[i] = x[2 * i] * p[0] + x[2 * i + 1] * p[1] + p[2];
    r[i] = pred[i] - y[i];
    loss += r[i] * r[i];
  }
  return 0.5f * loss / B;
}

static void lin_backward(dlc_frame *f) {
  const float *x = f->inputs[0], *r = f->scratch;
  float *g = f->grads;
  g[0] = g[1] = g[2] = 0;
  for (int i = 0; i < B; i++) {
    g[0] += x[2 * i] * r[i] / B;
    g[1] += x[2 * i + 1] * r[i] / B;
    g[2] += r[i] / B;
  }
}

static void lin_apply(dlc_frame *f) {
  float *p = f->params, *g = f->grads, *m = f->state;
  for (int k = 0; k < 3; k++) {
    m[k] = MOMENTUM * m[k] + g[k];
    p[k] -= LR * m[k];
  }
  m[3] += 1; /* the step count */
}

static void lin_train_step(dlc_frame *f) {
  *f->loss = lin_forward_loss(f, f->prediction);
  lin_backward(f);
  lin_apply(f);
}
static void lin_eval_loss(dlc_frame *f) { *f->loss = lin_forward_loss(f, f->prediction); }
static void lin_forward(dlc_frame *f) { lin_forward_loss(f, f->prediction); }
static void lin_gradients(dlc_frame *f) {
  *f->loss = lin_forward_loss(f, f->prediction);
  lin_backward(f);
}

static dlc_model_desc lin_desc(void) {
  return (dlc_model_desc){
      .abi_version = DLC_ABI_VERSION, .batch = B,
      .ninputs = 2, .nparams = 2, .nstate = 2,
      .inputs = lin_inputs, .params = lin_params, .state = lin_state,
      .prediction = {.name = "prediction", .dtype = DLC_F32, .rank = 2, .shape = {B, 1}},
      .param_bytes = 12, .state_bytes = 16, .scratch_bytes = B * sizeof(float),
      .step_counter_offset = 12,
      .train_step = lin_train_step, .eval_loss = lin_eval_loss, .forward = lin_forward,
      .gradients = lin_gradients, .apply = lin_apply,
  };
}

static dlc_model_desc the_desc;

/* What train.so's generated code defines; here dlc_create picks it up through it. */
const dlc_model_desc *dlc_describe(void) {
  the_desc = lin_desc();
  return &the_desc;
}

/* Batch k of a data set with y = 3 x0 - 2 x1 + 0.5, no noise. */
static void batch(int k, float x[B * 2], float y[B]) {
  rt_rng r;
  rt_rng_seed_stream(&r, 77, (uint64_t)k);
  for (int i = 0; i < B; i++) {
    x[2 * i] = (float)(2 * rt_rng_uniform(&r) - 1);
    x[2 * i + 1] = (float)(2 * rt_rng_uniform(&r) - 1);
    y[i] = 3 * x[2 * i] - 2 * x[2 * i + 1] + 0.5f;
  }
}

static float train(dlc_model *m, int from, int steps) {
  float x[B * 2], y[B], loss = NAN;
  for (int s = from; s < from + steps; s++) {
    batch(s, x, y);
    const void *in[2] = {x, y};
    loss = dlc_train_step(m, in);
  }
  return loss;
}

static void param_values(const dlc_model *m, float out[3]) {
  dlc_tensor w, b;
  cr_assert_eq(dlc_param(m, 0, &w), 0);
  cr_assert_eq(dlc_param(m, 1, &b), 0);
  memcpy(out, w.data, 8);
  memcpy(out + 2, b.data, 4);
}

Test(model, create_initialises_parameters_and_zeroes_state) {
  dlc_model *m = dlc_create(42);
  cr_assert_not_null(m, "%s", dlc_last_error());
  cr_assert_eq(dlc_num_params(m), 2);
  dlc_tensor w, b;
  cr_assert_eq(dlc_param(m, 0, &w), 0);
  cr_assert_eq(dlc_param(m, 1, &b), 0);
  cr_assert_str_eq(w.name, "w");
  cr_assert(w.dtype == DLC_F32 && w.rank == 2 && w.shape[0] == 2 && w.shape[1] == 1);
  cr_assert_str_eq(b.name, "b");
  cr_assert(b.rank == 1 && b.shape[0] == 1);
  cr_assert_eq((uintptr_t)w.data % 64, 0, "the block is 64-byte aligned");
  cr_assert_eq((char *)b.data - (char *)w.data, 8);
  const float *wv = w.data;
  cr_assert(wv[0] != 0 && wv[1] != 0 && fabsf(wv[0]) < 0.06f && fabsf(wv[1]) < 0.06f, "normal(0, 0.01)");
  cr_assert_eq(*(float *)b.data, 0.0f);
  for (int k = 0; k < 2; k++) {
    dlc_tensor s;
    cr_assert_eq(rt_model_state(m, k, &s), 0);
    cr_assert_eq((uintptr_t)s.data % 64 == 0, k == 0);
    for (int j = 0; j < s.shape[0]; j++) cr_assert_eq(((float *)s.data)[j], 0.0f);
  }
  int64_t n;
  float *g = dlc_grad_buffer(m, &n);
  cr_assert_not_null(g);
  cr_assert_eq(n, 3);
  cr_assert(g[0] == 0 && g[1] == 0 && g[2] == 0);
  cr_assert_eq((uintptr_t)g % 64, 0);

  dlc_tensor none;
  cr_assert_eq(dlc_param(m, 2, &none), -1);
  cr_assert_str_eq(dlc_last_error(), "dlc_param: no parameter 2 (the model has 2)");
  cr_assert_eq(dlc_param(m, 0, NULL), -1);
  cr_assert_str_eq(dlc_last_error(), "dlc_param: no tensor to describe the parameter in (out is NULL)");
  dlc_destroy(m);
}

Test(model, the_same_seed_gives_the_same_parameters) {
  dlc_model *a = dlc_create(1), *b = dlc_create(1), *c = dlc_create(2);
  float pa[3], pb[3], pc[3];
  param_values(a, pa);
  param_values(b, pb);
  param_values(c, pc);
  cr_assert_arr_eq(pa, pb, sizeof pa);
  cr_assert(pa[0] != pc[0] && pa[1] != pc[1]);
  dlc_destroy(a);
  dlc_destroy(b);
  dlc_destroy(c);
}

Test(model, training_converges_to_the_true_weights) {
  dlc_model *m = dlc_create(3);
  cr_assert_not_null(m, "%s", dlc_last_error());
  float first = train(m, 0, 1);
  float last = train(m, 1, 400);
  cr_assert_gt(first, 1.0f);
  cr_assert_lt(last, 1e-6f, "loss %g after 400 steps", last);
  float p[3];
  param_values(m, p);
  cr_assert_float_eq(p[0], 3.0f, 1e-3f);
  cr_assert_float_eq(p[1], -2.0f, 1e-3f);
  cr_assert_float_eq(p[2], 0.5f, 1e-3f);

  float x[B * 2], y[B], pred[B];
  batch(1000, x, y);
  const void *in[2] = {x, y};
  dlc_forward(m, in, pred);
  for (int i = 0; i < B; i++) cr_assert_float_eq(pred[i], y[i], 1e-3f);
  cr_assert_lt(dlc_eval_loss(m, in), 1e-6f);
  dlc_destroy(m);
}

/* gradients, then the flat buffer as MPI would see it, then apply: the same as a step. */
Test(model, the_data_parallel_halves_equal_one_step) {
  dlc_model *a = dlc_create(5), *b = dlc_create(5);
  float x[B * 2], y[B];
  for (int s = 0; s < 20; s++) {
    batch(s, x, y);
    const void *in[2] = {x, y};
    float la = dlc_train_step(a, in);
    float lb = dlc_gradients(b, in);
    cr_assert_eq(la, lb);
    int64_t n;
    float *g = dlc_grad_buffer(b, &n);
    cr_assert_eq(n, 3);
    float p[3], r[B], want[3] = {0, 0, 0};
    param_values(b, p);
    for (int i = 0; i < B; i++) { /* recompute the gradient independently */
      r[i] = x[2 * i] * p[0] + x[2 * i + 1] * p[1] + p[2] - y[i];
      want[0] += x[2 * i] * r[i] / B;
      want[1] += x[2 * i + 1] * r[i] / B;
      want[2] += r[i] / B;
    }
    for (int k = 0; k < 3; k++) cr_assert_float_eq(g[k], want[k], 1e-6f);
    dlc_apply(b);
  }
  float pa[3], pb[3];
  param_values(a, pa);
  param_values(b, pb);
  cr_assert_arr_eq(pa, pb, sizeof pa);
  dlc_destroy(a);
  dlc_destroy(b);
}

static char tmpdir[64];
static void make_tmpdir(void) {
  strcpy(tmpdir, "/tmp/dlc_model_XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
}
static void remove_tmpdir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  cr_assert_eq(system(cmd), 0);
}

Test(model, a_checkpoint_restores_training_exactly, .init = make_tmpdir, .fini = remove_tmpdir) {
  char path[128];
  snprintf(path, sizeof path, "%s/ckpt.safetensors", tmpdir);
  dlc_model *a = dlc_create(7);
  train(a, 0, 30);
  cr_assert_eq(dlc_save(a, path), 0, "%s", dlc_last_error());

  dlc_model *b = dlc_create(8); /* other initial values, overwritten by the load */
  cr_assert_eq(dlc_load(b, path), 0, "%s", dlc_last_error());
  float pa[3], pb[3];
  param_values(a, pa);
  param_values(b, pb);
  cr_assert_arr_eq(pa, pb, sizeof pa);
  for (int k = 0; k < 2; k++) { /* momentum came back too */
    dlc_tensor sa, sb;
    rt_model_state(a, k, &sa);
    rt_model_state(b, k, &sb);
    cr_assert_arr_eq(sa.data, sb.data, (size_t)sa.shape[0] * 4);
    cr_assert_neq(((float *)sa.data)[0], 0.0f);
  }
  /* ... and so did the step count, stored as a tensor of its own. */
  rt_st_file *f;
  cr_assert_eq(rt_st_open(path, &f), 0, "%s", dlc_last_error());
  int j = rt_st_find(f, "optimizer.step");
  cr_assert_geq(j, 0);
  float step;
  cr_assert_eq(rt_st_read(f, j, &step, 4), 0);
  cr_assert_eq(step, 30.0f);
  cr_assert_str_eq(rt_st_meta_get(f, "format"), "dlc");
  rt_st_close(f);

  /* Training goes on identically from the checkpoint. */
  cr_assert_eq(train(a, 30, 10), train(b, 30, 10));
  param_values(a, pa);
  param_values(b, pb);
  cr_assert_arr_eq(pa, pb, sizeof pa);
  dlc_destroy(a);
  dlc_destroy(b);
}

Test(model, a_checkpoint_of_another_model_is_refused_and_changes_nothing, .init = make_tmpdir,
     .fini = remove_tmpdir) {
  char path[128];
  snprintf(path, sizeof path, "%s/ckpt.safetensors", tmpdir);
  dlc_model *a = dlc_create(7);
  cr_assert_eq(dlc_save(a, path), 0, "%s", dlc_last_error());

  /* The same model with a 3-input weight. */
  dlc_tensor_desc params3[2] = {lin_params[0], lin_params[1]};
  params3[0].shape[0] = 3;
  params3[1].offset = 12;
  dlc_tensor_desc state3[2] = {lin_state[0], lin_state[1]};
  state3[0].shape[0] = 3;
  state3[1].offset = 12;
  dlc_model_desc d = lin_desc();
  d.params = params3;
  d.state = state3;
  d.param_bytes = 16;
  d.state_bytes = 20;
  d.step_counter_offset = 16;
  dlc_model *c = dlc_create_from(&d, 9);
  cr_assert_not_null(c, "%s", dlc_last_error());
  float before[4];
  dlc_tensor w;
  dlc_param(c, 0, &w);
  memcpy(before, w.data, 12);
  cr_assert_neq(dlc_load(c, path), 0);
  cr_assert(strstr(dlc_last_error(), "tensor 'w' has shape [2, 1] in the file but [3, 1] in the model"), "%s",
            dlc_last_error());
  cr_assert(strstr(dlc_last_error(), "tensor 'w.momentum' has shape [2, 1] in the file but [3, 1]"), "%s",
            dlc_last_error());
  cr_assert_arr_eq(w.data, before, 12);

  cr_assert_neq(dlc_load(c, "/nonexistent/ckpt.safetensors"), 0);
  cr_assert(strstr(dlc_last_error(), "cannot open"), "%s", dlc_last_error());
  dlc_destroy(a);
  dlc_destroy(c);
}

Test(model, bad_descriptions_and_missing_entries_are_reported) {
  dlc_model_desc d = lin_desc();
  d.abi_version = 99;
  cr_assert_null(dlc_create_from(&d, 1));
  cr_assert(strstr(dlc_last_error(), "ABI version 99"), "%s", dlc_last_error());

  d = lin_desc();
  d.param_bytes = 8; /* b at 8 no longer fits */
  cr_assert_null(dlc_create_from(&d, 1));
  cr_assert(strstr(dlc_last_error(), "parameter 'b' (4 bytes at offset 8) lies outside its block of 8 bytes"), "%s",
            dlc_last_error());

  dlc_tensor_desc p[2] = {lin_params[0], lin_params[1]};
  p[0].init = "normal(0, -1)";
  d = lin_desc();
  d.params = p;
  cr_assert_null(dlc_create_from(&d, 1));
  cr_assert(strstr(dlc_last_error(), "parameter 'w': bad initialiser \"normal(0, -1)\": std must be >= 0"), "%s",
            dlc_last_error());

  dlc_tensor_desc s[2] = {lin_state[0], lin_state[1]};
  s[1].name = "w";
  d = lin_desc();
  d.state = s;
  cr_assert_null(dlc_create_from(&d, 1));
  cr_assert(strstr(dlc_last_error(), "two tensors are called 'w'"), "%s", dlc_last_error());

  d = lin_desc();
  d.train_step = NULL;
  dlc_model *m = dlc_create_from(&d, 1);
  cr_assert_not_null(m);
  float x[B * 2] = {0}, y[B] = {0};
  const void *in[2] = {x, y};
  cr_assert(isnan(dlc_train_step(m, in)));
  cr_assert_str_eq(dlc_last_error(), "dlc_train_step: the model was compiled without this entry point");
  cr_assert(isnan(dlc_eval_loss(m, NULL)));
  cr_assert(strstr(dlc_last_error(), "no inputs given"), "%s", dlc_last_error());
  cr_assert(isnan(dlc_train_step(NULL, in)));
  dlc_destroy(m);
  dlc_destroy(NULL);
}

/* A classifier's description: labels y index 3 classes; forward reads x alone. The entries
 * count their calls, set the loss to 1 and the first score to 2. */
static int cls_calls;
static void cls_entry(dlc_frame *f) {
  cls_calls++;
  if (f->loss) *f->loss = 1;
  if (f->prediction) ((float *)f->prediction)[0] = 2;
}
enum { READ_BY_ALL = DLC_ENTRY_TRAIN_STEP | DLC_ENTRY_EVAL_LOSS | DLC_ENTRY_FORWARD | DLC_ENTRY_GRADIENTS };
static const dlc_tensor_desc cls_inputs[2] = {
    {.name = "x", .dtype = DLC_F32, .rank = 2, .shape = {B, 2}, .read_by = READ_BY_ALL},
    {.name = "y", .dtype = DLC_I32, .rank = 1, .shape = {B}, .index_bound = 3,
     .read_by = READ_BY_ALL & ~DLC_ENTRY_FORWARD},
};
static dlc_model_desc cls_desc(void) {
  return (dlc_model_desc){
      .abi_version = DLC_ABI_VERSION, .batch = B, .ninputs = 2, .inputs = cls_inputs,
      .prediction = {.name = "prediction", .dtype = DLC_F32, .rank = 2, .shape = {B, 3}},
      .step_counter_offset = -1,
      .train_step = cls_entry, .eval_loss = cls_entry, .forward = cls_entry, .gradients = cls_entry,
  };
}

Test(model, labels_outside_the_classes_are_refused_before_the_step) {
  dlc_model_desc d = cls_desc();
  dlc_model *m = dlc_create_from(&d, 1);
  cr_assert_not_null(m, "%s", dlc_last_error());
  float x[B * 2] = {0}, pred[B * 3];
  int32_t y[B] = {0, 1, 2, 0, 1, 2, 0, 1};
  const void *in[2] = {x, y};
  cls_calls = 0;
  cr_assert_eq(dlc_train_step(m, in), 1);
  y[5] = 3;
  cr_assert(isnan(dlc_train_step(m, in)));
  cr_assert_str_eq(dlc_last_error(),
                   "dlc_train_step: input 'y' holds 3 at element 5, outside [0, 3): the range of the axis it indexes");
  y[5] = -1;
  cr_assert(isnan(dlc_eval_loss(m, in)));
  cr_assert(strstr(dlc_last_error(), "dlc_eval_loss: input 'y' holds -1 at element 5"), "%s", dlc_last_error());
  cr_assert(isnan(dlc_gradients(m, in)));
  cr_assert_eq(cls_calls, 1, "a refused batch ran the entry");

  /* forward reads x alone: the labels may be anything, or absent */
  const void *features_only[2] = {x, NULL};
  dlc_forward(m, features_only, pred);
  cr_assert_eq(cls_calls, 2);
  cr_assert_eq(pred[0], 2);
  const void *no_features[2] = {NULL, y};
  dlc_forward(m, no_features, pred);
  cr_assert_str_eq(dlc_last_error(), "dlc_forward: input 'x' is NULL");
  for (int e = 0; e < B * 3; e++) cr_assert(isnan(pred[e]), "prediction %d is %g, not NaN", e, pred[e]);
  cr_assert_eq(cls_calls, 2);
  dlc_destroy(m);

  dlc_tensor_desc bad[2] = {cls_inputs[0], cls_inputs[1]};
  bad[0].index_bound = 4;
  d.inputs = bad;
  cr_assert_null(dlc_create_from(&d, 1));
  cr_assert(strstr(dlc_last_error(), "input 'x' has an index bound but is not an integer tensor"), "%s",
            dlc_last_error());
}

/* dlc_prepare_csv needs the columns (and preparation) a checkpoint of `dlc train` records. */
Test(model, preparing_rows_needs_recorded_columns, .init = make_tmpdir, .fini = remove_tmpdir) {
  char path[128], csv[128];
  snprintf(path, sizeof path, "%s/plain.safetensors", tmpdir);
  snprintf(csv, sizeof csv, "%s/rows.csv", tmpdir);
  FILE *f = fopen(csv, "w");
  cr_assert_not_null(f);
  fputs("a,b\n1,2\n", f);
  fclose(f);
  dlc_model *m = dlc_create(1);
  cr_assert_eq(dlc_save(m, path), 0, "%s", dlc_last_error());
  float *x = (float *)1;
  int64_t rows = 7;
  cr_assert_eq(dlc_prepare_csv(m, path, csv, &x, &rows), -1);
  cr_assert(strstr(dlc_last_error(), "plain.safetensors names no feature columns (neither metadata \"dlc.prep\" nor \"dlc.features\")"), "%s",
            dlc_last_error());
  cr_assert(x == NULL && rows == 0, "outputs cleared on failure");
  cr_assert_eq(dlc_prepare_csv(m, "/nonexistent.safetensors", csv, &x, &rows), -1);
  cr_assert(strstr(dlc_last_error(), "/nonexistent.safetensors"), "%s", dlc_last_error());
  cr_assert_eq(dlc_prepare_csv(NULL, path, csv, &x, &rows), -1);
  dlc_destroy(m);
}

Test(model, the_gradient_buffer_is_f32_only) {
  dlc_tensor_desc p[2] = {lin_params[0], lin_params[1]};
  p[0].dtype = DLC_F64; /* 16 bytes now: b moves to 16 */
  p[1].offset = 16;
  dlc_model_desc d = lin_desc();
  d.params = p;
  d.param_bytes = 20;
  dlc_model *m = dlc_create_from(&d, 1);
  cr_assert_not_null(m, "%s", dlc_last_error());
  int64_t n = -1;
  cr_assert_null(dlc_grad_buffer(m, &n));
  cr_assert_eq(n, 0);
  cr_assert(strstr(dlc_last_error(), "parameter 'w' is f64"), "%s", dlc_last_error());
  dlc_destroy(m);
}

Test(model, save_with_metadata, .init = make_tmpdir, .fini = remove_tmpdir) {
  char path[128];
  snprintf(path, sizeof path, "%s/meta.safetensors", tmpdir);
  dlc_model *m = dlc_create(1);
  rt_meta meta[1] = {{"data.standardise", "{\"mean\": [0.1, 0.2], \"std\": [1, 2]}"}};
  cr_assert_eq(rt_model_save(m, path, meta, 1), 0, "%s", dlc_last_error());
  rt_st_file *f;
  cr_assert_eq(rt_st_open(path, &f), 0, "%s", dlc_last_error());
  cr_assert_str_eq(rt_st_meta_get(f, "data.standardise"), meta[0].value);
  char abi[16];
  snprintf(abi, sizeof abi, "%d", DLC_ABI_VERSION);
  cr_assert_str_eq(rt_st_meta_get(f, "dlc.abi_version"), abi);
  rt_st_close(f);
  dlc_destroy(m);
}

/* A checkpoint saved after loading one keeps how the rows were prepared (dlc predict and
 * dlc_prepare_csv need it), not the rest of the loaded run's metadata; metadata given to
 * the save replaces it. */
Test(model, a_reloaded_checkpoint_keeps_its_preparation, .init = make_tmpdir, .fini = remove_tmpdir) {
  char first[128], again[128], replaced[128];
  snprintf(first, sizeof first, "%s/first.safetensors", tmpdir);
  snprintf(again, sizeof again, "%s/again.safetensors", tmpdir);
  snprintf(replaced, sizeof replaced, "%s/replaced.safetensors", tmpdir);
  dlc_model *m = dlc_create(1);
  rt_meta meta[3] = {{RT_META_FEATURES, "[\"b\", \"a\"]"}, {RT_META_MEAN, "[0.5, 1]"}, {"dlc.epoch", "3"}};
  cr_assert_eq(rt_model_save(m, first, meta, 3), 0, "%s", dlc_last_error());
  dlc_model *b = dlc_create(2);
  cr_assert_eq(dlc_load(b, first), 0, "%s", dlc_last_error());
  cr_assert_eq(dlc_save(b, again), 0, "%s", dlc_last_error());
  rt_meta newer[1] = {{RT_META_FEATURES, "[\"c\", \"d\"]"}};
  cr_assert_eq(rt_model_save(b, replaced, newer, 1), 0, "%s", dlc_last_error());
  rt_st_file *f;
  cr_assert_eq(rt_st_open(again, &f), 0, "%s", dlc_last_error());
  cr_assert_str_eq(rt_st_meta_get(f, RT_META_FEATURES), meta[0].value);
  cr_assert_str_eq(rt_st_meta_get(f, RT_META_MEAN), meta[1].value);
  cr_assert_null(rt_st_meta_get(f, "dlc.epoch"));
  rt_st_close(f);
  cr_assert_eq(rt_st_open(replaced, &f), 0, "%s", dlc_last_error());
  cr_assert_str_eq(rt_st_meta_get(f, RT_META_FEATURES), newer[0].value);
  cr_assert_str_eq(rt_st_meta_get(f, RT_META_MEAN), meta[1].value);
  rt_st_close(f);
  dlc_destroy(b);
  dlc_destroy(m);
}

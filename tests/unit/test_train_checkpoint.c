/* Checkpoints of a JIT-compiled model: save -> load gives identical parameters and
 * optimiser state, and the next training step then gives the identical loss and the
 * identical update as the model that was saved. Also the partial batch's model: training
 * through it keeps parameters and state in step with the main model. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "be.h"
#include "fe.h"
#include "passes.h"
#include "rt_train.h"

/* Adam keeps moments and a step counter: state that must round-trip too. */
static const char *source =
    "model ckpt\n"
    "batch = 8\n"
    "input x: f32[batch, 3]\n"
    "label y: i32[batch]\n"
    "param W: f32[3, 4] = xavier_uniform\n"
    "param b: f32[4] = zeros\n"
    "logits = x @ W + b\n"
    "output logits\n"
    "loss cross_entropy(logits, y)\n"
    "optimizer adam(lr = 0.01)\n";

typedef struct {
  ir_module *m;
  be_jit *jit;
  const dlc_model_desc *desc;
} compiled;

static compiled compile(int64_t batch) {
  compiled c = {0};
  fe_diagnostics d;
  fe_diagnostics_init(&d);
  fe_options o = {.batch = batch};
  c.m = fe_compile("ckpt.def", source, strlen(source), &o, &d);
  cr_assert_not_null(c.m, "%s", d.count ? d.items[0].message : "?");
  fe_diagnostics_free(&d);
  ir_error err = {0};
  cr_assert(pass_run_pipeline(c.m, "shape-infer,autodiff,optimizer,simplify,fuse", NULL, &err), "%s", err.msg);
  cr_assert(be_jit_compile(c.m, NULL, &c.jit, &c.desc, &err), "%s", err.msg);
  return c;
}

static void release(compiled *c) {
  be_jit_destroy(c->jit);
  ir_module_destroy(c->m);
}

/* A batch of random features and labels in [0, 4). */
static void batch_of(int n, uint64_t seed, float *x, int32_t *y) {
  rt_rng rng;
  rt_rng_seed(&rng, seed);
  for (int i = 0; i < n * 3; i++) x[i] = (float)rt_rng_normal(&rng);
  for (int i = 0; i < n; i++) y[i] = (int32_t)rt_rng_below(&rng, 4);
}

/* Every parameter and state tensor of a and b, byte for byte. */
static void assert_same(const dlc_model *a, const dlc_model *b) {
  for (int i = 0; i < dlc_num_params(a); i++) {
    dlc_tensor s, t;
    cr_assert_eq(dlc_param(a, i, &s), 0);
    cr_assert_eq(dlc_param(b, i, &t), 0);
    cr_assert_str_eq(s.name, t.name);
    size_t n = (size_t)rt_numel(s.rank, s.shape) * rt_dtype_size(s.dtype);
    cr_assert_eq(memcmp(s.data, t.data, n), 0, "parameter %s differs", s.name);
  }
  for (int i = 0; i < rt_model_num_state(a); i++) {
    dlc_tensor s, t;
    cr_assert_eq(rt_model_state(a, i, &s), 0);
    cr_assert_eq(rt_model_state(b, i, &t), 0);
    size_t n = (size_t)rt_numel(s.rank, s.shape) * rt_dtype_size(s.dtype);
    cr_assert_eq(memcmp(s.data, t.data, n), 0, "state %s differs", s.name);
  }
}

Test(train_checkpoint, save_load_gives_the_same_parameters_and_next_step) {
  compiled c = compile(0);
  cr_assert_gt(c.desc->nstate, 0, "adam should have state");
  dlc_model *a = dlc_create_from(c.desc, 1), *b = dlc_create_from(c.desc, 2);
  cr_assert(a && b, "%s", dlc_last_error());
  float x[8 * 3];
  int32_t y[8];
  const void *in[2] = {x, y};
  for (int s = 0; s < 5; s++) {
    batch_of(8, 100 + (uint64_t)s, x, y);
    cr_assert(isfinite(dlc_train_step(a, in)));
  }
  char path[] = "/tmp/dlc-ckpt-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  rt_meta meta[] = {{"dlc.epoch", "1"}};
  cr_assert_eq(rt_model_save(a, path, meta, 1), 0, "%s", dlc_last_error());
  cr_assert_eq(dlc_load(b, path), 0, "%s", dlc_last_error());
  assert_same(a, b);

  batch_of(8, 999, x, y);
  float la = dlc_train_step(a, in), lb = dlc_train_step(b, in);
  cr_assert_eq(memcmp(&la, &lb, sizeof la), 0, "next-step loss %.9g vs %.9g", la, lb);
  assert_same(a, b);

  /* the metadata given to rt_model_save travels with it */
  rt_st_file *f;
  cr_assert_eq(rt_st_open(path, &f), 0);
  cr_assert_str_eq(rt_st_meta_get(f, "dlc.epoch"), "1");
  rt_st_close(f);
  dlc_destroy(a);
  dlc_destroy(b);
  unlink(path);
  release(&c);
}

static compiled variant;
static dlc_model *variant_model;

static dlc_model *factory(void *ctx, int64_t batch) {
  (void)ctx;
  if (!variant_model) {
    variant = compile(batch);
    variant_model = dlc_create_from(variant.desc, 0);
  }
  return variant_model;
}

/* 11 rows at batch 8: one step of 8 and one of 3. Training through rt_train must equal
 * stepping the two compiled models by hand, with the state carried across. */
Test(train_checkpoint, the_partial_batch_shares_parameters_and_state) {
  compiled c = compile(0);
  dlc_model *a = dlc_create_from(c.desc, 3), *ref = dlc_create_from(c.desc, 3);
  rt_dataset d = {.rows = 11, .narrays = 2, .label = 1, .nclasses = 4};
  float *x = malloc(11 * 3 * sizeof *x);
  int32_t *y = malloc(11 * sizeof *y);
  batch_of(11, 5, x, y);
  d.arrays[0] = (rt_data_array){.name = strdup("x"), .dtype = DLC_F32, .width = 3, .data = x};
  d.arrays[1] = (rt_data_array){.name = strdup("y"), .dtype = DLC_I32, .width = 1, .data = y};
  rt_train_config cfg = {.epochs = 2, .seed = 0, .shuffle = 0};
  rt_train_result res;
  cr_assert_eq(rt_train(a, factory, NULL, &d, NULL, &cfg, NULL, &res), 0, "%s", dlc_last_error());
  cr_assert_eq(res.status, RT_TRAIN_DONE);
  cr_assert_eq(res.steps, 4);

  /* by hand: rows 0-7 through the batch-8 model, rows 8-10 through the batch-3 one */
  compiled c3 = compile(3);
  dlc_model *r3 = dlc_create_from(c3.desc, 0);
  for (int e = 0; e < 2; e++) {
    const void *in8[2] = {x, y};
    dlc_train_step(ref, in8);
    cr_assert_eq(rt_model_copy(r3, ref, 1), 0);
    const void *in3[2] = {x + 8 * 3, y + 8};
    dlc_train_step(r3, in3);
    cr_assert_eq(rt_model_copy(ref, r3, 1), 0);
  }
  assert_same(a, ref);
  dlc_destroy(a);
  dlc_destroy(ref);
  dlc_destroy(r3);
  dlc_destroy(variant_model);
  variant_model = NULL;
  release(&variant);
  release(&c3);
  release(&c);
  rt_data_free(&d);
}

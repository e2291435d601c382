/* `dlc train` end to end, on the examples: linear regression recovers its true weights
 * and the normal equation's answer, softmax regression on the digits reaches the
 * accuracy PyTorch reaches with the same recipe, the MLP's loss falls, a diverging run
 * stops with a useful message and leaves the checkpoint alone. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fe.h"
#include "rt_train.h"

static char dir[64];

static void make_dir(void) {
  strcpy(dir, "/tmp/dlc-train-cli-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(train_cli, .init = make_dir, .fini = remove_dir, .timeout = 300);

/* Runs `dlc train ARGS` (from the source root); output and errors go to dir/out.txt.
 * Returns the exit status. */
static int dlc_train(const char *args) {
  const char *dlc = getenv("DLC");
  if (!dlc) dlc = DLC_BINARY_DIR "/dlc";
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s' train %s > '%s/out.txt' 2>&1", DLC_SOURCE_DIR, dlc, args, dir);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = '\0';
  fclose(f);
  return s;
}

static char *output(void) {
  char p[128];
  snprintf(p, sizeof p, "%s/out.txt", dir);
  return slurp(p);
}

/* One f32 tensor of a checkpoint, by name. */
static void read_tensor(const char *path, const char *name, float *out, size_t n) {
  rt_st_file *f;
  cr_assert_eq(rt_st_open(path, &f), 0, "%s", dlc_last_error());
  int i = rt_st_find(f, name);
  cr_assert_geq(i, 0, "no tensor %s in %s", name, path);
  cr_assert_eq(rt_st_read(f, i, out, n * sizeof(float)), 0, "%s", dlc_last_error());
  rt_st_close(f);
}

/* The value of "key": in the last line of a JSON Lines file. */
static double last_metric(const char *path, const char *key, double *first) {
  char *text = slurp(path);
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\": ", key);
  char *p = strstr(text, pat), *last = NULL;
  cr_assert_not_null(p, "no %s in %s", key, text);
  if (first) *first = strtod(p + strlen(pat), NULL);
  for (; p; p = strstr(p + 1, pat)) last = p;
  double v = strtod(last + strlen(pat), NULL);
  free(text);
  return v;
}

/* Solves the 3x3 system a x = b by Gaussian elimination with partial pivoting. */
static void solve3(double a[3][3], double b[3], double x[3]) {
  for (int c = 0; c < 3; c++) {
    int p = c;
    for (int r = c + 1; r < 3; r++)
      if (fabs(a[r][c]) > fabs(a[p][c])) p = r;
    for (int k = 0; k < 3; k++) {
      double t = a[c][k];
      a[c][k] = a[p][k];
      a[p][k] = t;
    }
    double t = b[c];
    b[c] = b[p];
    b[p] = t;
    for (int r = c + 1; r < 3; r++) {
      double f = a[r][c] / a[c][c];
      for (int k = c; k < 3; k++) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  for (int r = 2; r >= 0; r--) {
    double s = b[r];
    for (int k = r + 1; k < 3; k++) s -= a[r][k] * x[k];
    x[r] = s / a[r][r];
  }
}

/* The synthetic data dlc trained on, regenerated from the model's own data entry. */
static void linreg_data(uint64_t seed, rt_dataset *d) {
  char *src = slurp(DLC_SOURCE_DIR "/examples/linreg.def");
  fe_diagnostics diags;
  fe_diagnostics_init(&diags);
  ir_module *m = fe_compile("linreg.def", src, strlen(src), NULL, &diags);
  cr_assert_not_null(m);
  fe_diagnostics_free(&diags);
  rt_data_spec spec;
  cr_assert_eq(rt_data_spec_parse(ir_module_get_meta(m, "data"), &spec), 0, "%s", dlc_last_error());
  /* The model's inputs, as the compiled step would describe them. */
  ir_func *f = ir_module_find_func(m, "forward");
  dlc_tensor_desc in[2];
  int n = 0;
  for (int i = 0; i < f->nargs && n < 2; i++) {
    if (f->args[i]->op != IR_OP_INPUT) continue;
    in[n] = (dlc_tensor_desc){.name = f->args[i]->name, .dtype = (int)f->args[i]->type.dtype,
                              .rank = f->args[i]->type.rank};
    memcpy(in[n].shape, f->args[i]->type.dims, sizeof in[n].shape);
    n++;
  }
  dlc_model_desc desc = {.abi_version = DLC_ABI_VERSION, .batch = (int)in[0].shape[0], .ninputs = 2, .inputs = in,
                         .prediction = {.dtype = DLC_F32, .rank = 2, .shape = {in[0].shape[0], 1}}};
  cr_assert_eq(rt_data_load(&spec, &desc, seed, 0, d), 0, "%s", dlc_last_error());
  rt_data_spec_free(&spec);
  ir_module_destroy(m);
  free(src);
}

Test(train_cli, linreg_recovers_the_weights_and_the_normal_equation) {
  char args[512], ck[128];
  snprintf(ck, sizeof ck, "%s/linreg.safetensors", dir);
  snprintf(args, sizeof args, "examples/linreg.def --seed 3 --epochs 10 --save %s", ck);
  int rc = dlc_train(args);
  char *out = output();
  cr_assert_eq(rc, 0, "%s", out);
  /* the summary shows the learned weights beside the true ones */
  cr_assert(strstr(out, "true w = [2, -3.4]") && strstr(out, "true b = 4.2"), "%s", out);
  cr_assert(strstr(out, "weights saved to"), "%s", out);
  free(out);

  float w[2], b[1];
  read_tensor(ck, "w", w, 2);
  read_tensor(ck, "b", b, 1);
  cr_assert_float_eq(w[0], 2.0, 1e-2);
  cr_assert_float_eq(w[1], -3.4, 1e-2);
  cr_assert_float_eq(b[0], 4.2, 1e-2);

  /* least squares on the same rows: (A^T A) theta = A^T y with A = [X 1] */
  rt_dataset d;
  linreg_data(3, &d);
  double ata[3][3] = {{0}}, aty[3] = {0}, theta[3];
  const float *x = d.arrays[0].data, *y = d.arrays[1].data;
  for (int64_t r = 0; r < d.rows; r++) {
    double row[3] = {x[2 * r], x[2 * r + 1], 1};
    for (int i = 0; i < 3; i++) {
      aty[i] += row[i] * y[r];
      for (int j = 0; j < 3; j++) ata[i][j] += row[i] * row[j];
    }
  }
  solve3(ata, aty, theta);
  /* SGD's last iterate wanders around the optimum by about lr * noise */
  cr_assert_float_eq(w[0], theta[0], 2e-3, "w0 %g, normal equation %g", w[0], theta[0]);
  cr_assert_float_eq(w[1], theta[1], 2e-3, "w1 %g, normal equation %g", w[1], theta[1]);
  cr_assert_float_eq(b[0], theta[2], 2e-3, "b %g, normal equation %g", b[0], theta[2]);
  rt_data_free(&d);
}

Test(train_cli, softmax_on_digits_reaches_the_reference_accuracy) {
  char args[512], metrics[128];
  snprintf(metrics, sizeof metrics, "%s/softmax.jsonl", dir);
  /* the recipe: 50 epochs of SGD, lr 0.1, batch 256 (PyTorch: 0.936) */
  snprintf(args, sizeof args, "examples/softmax.def --epochs 50 --lr 0.1 --batch 256 --quiet --metrics %s", metrics);
  int rc = dlc_train(args);
  char *out = output();
  cr_assert_eq(rc, 0, "%s", out);
  free(out);
  double first_loss, acc = last_metric(metrics, "train_accuracy", NULL);
  double loss = last_metric(metrics, "train_loss", &first_loss);
  cr_assert_geq(acc, 0.93, "training accuracy %g", acc);
  cr_assert_lt(loss, first_loss);
}

/* A learnable 784-feature problem for mlp.def: the label is the argmax of a fixed random
 * linear map of the pixels. */
static void write_mlp_csv(const char *path, int rows) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  for (int j = 0; j < 784; j++) fprintf(f, "pixel%d,", j);
  fprintf(f, "label\n");
  rt_rng rng;
  rt_rng_seed(&rng, 42);
  static float teacher[784][10];
  for (int j = 0; j < 784; j++)
    for (int k = 0; k < 10; k++) teacher[j][k] = (float)rt_rng_normal(&rng);
  for (int r = 0; r < rows; r++) {
    double score[10] = {0};
    for (int j = 0; j < 784; j++) {
      double v = rt_rng_uniform(&rng) < 0.2 ? rt_rng_uniform(&rng) : 0;
      fprintf(f, "%.3g,", v);
      for (int k = 0; k < 10; k++) score[k] += v * teacher[j][k];
    }
    int best = 0;
    for (int k = 1; k < 10; k++)
      if (score[k] > score[best]) best = k;
    fprintf(f, "%d\n", best);
  }
  fclose(f);
}

Test(train_cli, the_mlp_trains_and_its_loss_falls) {
  char csv[128], metrics[128], args[512];
  snprintf(csv, sizeof csv, "%s/mnist_like.csv", dir);
  snprintf(metrics, sizeof metrics, "%s/mlp.jsonl", dir);
  write_mlp_csv(csv, 200); /* 3 full batches of 64 and one of 8 */
  snprintf(args, sizeof args, "examples/mlp.def --data %s --epochs 8 --quiet --metrics %s", csv, metrics);
  int rc = dlc_train(args);
  char *out = output();
  cr_assert_eq(rc, 0, "%s", out);
  free(out);
  double first, last = last_metric(metrics, "train_loss", &first);
  cr_assert_lt(last, 0.5 * first, "loss went from %g to %g", first, last);
  double acc = last_metric(metrics, "train_accuracy", NULL);
  cr_assert_gt(acc, 0.5, "training accuracy %g", acc);
}

Test(train_cli, a_diverging_run_stops_and_keeps_the_checkpoint) {
  char ck[128], args[512];
  snprintf(ck, sizeof ck, "%s/keep.safetensors", dir);
  snprintf(args, sizeof args, "examples/linreg.def --epochs 1 --quiet --save %s", ck);
  cr_assert_eq(dlc_train(args), 0);
  char *before = slurp(ck);
  size_t nbefore;
  {
    FILE *f = fopen(ck, "rb");
    fseek(f, 0, SEEK_END);
    nbefore = (size_t)ftell(f);
    fclose(f);
  }
  snprintf(args, sizeof args, "examples/linreg.def --lr 50 --epochs 5 --save %s", ck);
  int rc = dlc_train(args);
  char *out = output();
  cr_assert_eq(rc, 1, "%s", out);
  cr_assert(strstr(out, "at epoch 1, step "), "%s", out);
  cr_assert(strstr(out, "smaller one, e.g. --lr 5 (now 50)"), "%s", out);
  cr_assert(strstr(out, "nothing was saved") && strstr(out, "untouched"), "%s", out);
  char *after = slurp(ck);
  cr_assert_eq(memcmp(before, after, nbefore), 0, "the old checkpoint changed");
  free(before);
  free(after);
  free(out);
}

Test(train_cli, no_data_is_a_clear_error) {
  char model[128], args[256];
  snprintf(model, sizeof model, "%s/nodata.def", dir);
  FILE *f = fopen(model, "w");
  fputs("batch = 4\ninput x: f32[batch, 2]\nlabel y: f32[batch, 1]\nparam w: f32[2, 1] = zeros\n"
        "p = x @ w\noutput p\nloss mean((p - y) ^ 2)\noptimizer sgd(lr = 0.1)\n", f);
  fclose(f);
  snprintf(args, sizeof args, "%s", model);
  cr_assert_eq(dlc_train(args), 1);
  char *out = output();
  cr_assert(strstr(out, "no data") && strstr(out, "--data FILE"), "%s", out);
  free(out);
}

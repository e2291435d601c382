/* A user's program: it knows train.so only through train.h. It loads the library with
 * dlopen, trains the linear regression on synthetic data, prints every loss (as exact hex
 * floats, so two runs can be compared bit for bit) and checks w and b against the
 * closed-form least-squares solution (XᵀX)⁻¹Xᵀy.
 *
 * usage: linreg_main path/to/train.so [seed]     exit status 0 when within 1e-2 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "load_symbol.h"
#include "train.h"

enum { N = 256, EPOCHS = 60 };

static uint64_t rng = 3;
static float uniform(float lo, float hi) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return lo + (hi - lo) * (float)((double)(rng >> 11) / 9007199254740992.0);
}

/* Solves the 3x3 normal equations by Gauss-Jordan elimination. */
static void closed_form(const float *x, const float *y, double out[3]) {
  double a[3][4] = {{0}};
  for (int i = 0; i < N; i++) {
    double r[3] = {x[2 * i], x[2 * i + 1], 1};
    for (int p = 0; p < 3; p++) {
      for (int q = 0; q < 3; q++) a[p][q] += r[p] * r[q];
      a[p][3] += r[p] * y[i];
    }
  }
  for (int c = 0; c < 3; c++)
    for (int r = 0; r < 3; r++) {
      if (r == c) continue;
      double f = a[r][c] / a[c][c];
      for (int k = 0; k < 4; k++) a[r][k] -= f * a[c][k];
    }
  for (int i = 0; i < 3; i++) out[i] = a[i][3] / a[i][i];
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s train.so [seed]\n", argv[0]);
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  dlc_model *(*create)(uint64_t);
  void (*destroy)(dlc_model *);
  float (*train_step)(dlc_model *, const void *const[]);
  int (*num_params)(const dlc_model *);
  int (*param)(const dlc_model *, int, dlc_tensor *);
  const char *(*last_error)(void);
  LOAD(create, "dlc_create");
  LOAD(destroy, "dlc_destroy");
  LOAD(train_step, "dlc_train_step");
  LOAD(num_params, "dlc_num_params");
  LOAD(param, "dlc_param");
  LOAD(last_error, "dlc_last_error");

  static float x[N * 2], y[N];
  for (int i = 0; i < N; i++) {
    x[2 * i] = uniform(-1, 1);
    x[2 * i + 1] = uniform(-1, 1);
    y[i] = 2 * x[2 * i] - 3 * x[2 * i + 1] + 0.5f + uniform(-0.1f, 0.1f);
  }
  dlc_model *m = create(argc > 2 ? strtoull(argv[2], NULL, 10) : 1);
  if (!m) {
    fprintf(stderr, "dlc_create: %s\n", last_error());
    return 1;
  }
  for (int e = 0; e < EPOCHS; e++)
    for (int b = 0; b < N / DLC_BATCH; b++) {
      const void *inputs[DLC_NUM_INPUTS];
      inputs[DLC_INPUT_X_INDEX] = x + b * DLC_BATCH * 2;
      inputs[DLC_INPUT_Y_INDEX] = y + b * DLC_BATCH;
      printf("%a\n", train_step(m, inputs));
    }
  float w[2] = {0}, bias = 0;
  for (int i = 0; i < num_params(m); i++) {
    dlc_tensor t;
    if (param(m, i, &t) != 0) {
      fprintf(stderr, "dlc_param: %s\n", last_error());
      return 1;
    }
    if (t.name[0] == 'w') w[0] = ((float *)t.data)[0], w[1] = ((float *)t.data)[1];
    if (t.name[0] == 'b') bias = ((float *)t.data)[0];
  }
  double cf[3];
  closed_form(x, y, cf);
  double got[3] = {w[0], w[1], bias};
  int ok = 1;
  for (int i = 0; i < 3; i++) {
    fprintf(stderr, "coefficient %d: trained %.6f, closed form %.6f\n", i, got[i], cf[i]);
    if (fabs(got[i] - cf[i]) > 1e-2) ok = 0;
  }
  destroy(m);
  dlclose(lib);
  return ok ? 0 : 1;
}

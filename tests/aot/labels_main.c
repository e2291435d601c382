/* A user's program for a classifier's train.so (examples/softmax.def), through train.h
 * alone: a batch whose labels are classes trains; one label outside [0, DLC_INPUT_Y_BOUND)
 * makes dlc_train_step refuse the batch (NaN, dlc_last_error says which element), and the
 * parameters stay as they were; dlc_forward needs no labels. Prints what it saw.
 *
 * usage: labels_main path/to/train.so     exit status 0 when all of it holds */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "load_symbol.h"
#include "train.h"

static float x[DLC_INPUT_X_NUMEL], out[DLC_PREDICTION_NUMEL];
static int32_t y[DLC_INPUT_Y_NUMEL];

int main(int argc, char **argv) {
  void *lib = argc == 2 ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
  if (!lib) {
    fprintf(stderr, "usage: %s train.so (%s)\n", argv[0], argc == 2 ? dlerror() : "no library");
    return 2;
  }
  dlc_model *(*create)(uint64_t);
  float (*step)(dlc_model *, const void *const *);
  void (*forward)(dlc_model *, const void *const *, float *);
  int (*param)(const dlc_model *, int, dlc_tensor *);
  const char *(*last_error)(void);
  LOAD(create, "dlc_create");
  LOAD(step, "dlc_train_step");
  LOAD(forward, "dlc_forward");
  LOAD(param, "dlc_param");
  LOAD(last_error, "dlc_last_error");

  dlc_model *m = create(1);
  for (int i = 0; i < DLC_INPUT_X_NUMEL; i++) x[i] = (float)(i % 7) / 7;
  for (int i = 0; i < DLC_INPUT_Y_NUMEL; i++) y[i] = i % DLC_INPUT_Y_BOUND;
  const void *in[DLC_NUM_INPUTS] = {x, y};
  float good = step(m, in);
  printf("classes: loss %g\n", good);

  dlc_tensor w;
  param(m, 0, &w);
  float before = ((float *)w.data)[0];
  y[3] = DLC_INPUT_Y_BOUND;
  float bad = step(m, in);
  printf("label %d: loss %g, error: %s\n", DLC_INPUT_Y_BOUND, bad, last_error());
  int refused = isnan(bad) && strstr(last_error(), "input 'y' holds 10 at element 3") &&
                ((float *)w.data)[0] == before;

  const void *features_only[DLC_NUM_INPUTS] = {x, NULL};
  forward(m, features_only, out);
  printf("forward without labels: score %g\n", out[0]);
  return isfinite(good) && refused && isfinite(out[0]) ? 0 : 1;
}

/* A user's program for the house-price train.so (examples/house.def, a CSV with missing
 * values and a categorical column), through train.h alone: it loads a checkpoint of
 * `dlc train --save`, prepares a CSV file's rows with dlc_prepare_csv (the checkpoint's fill
 * values, categories and scales) and prints the model's prediction for every row, one a
 * line, as `dlc predict` prints them. Rows past the last whole batch are not predicted.
 *
 * usage: prepare_main train.so weights.safetensors data.csv     exit status 0 on success */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "load_symbol.h"
#include "train.h"

int main(int argc, char **argv) {
  void *lib = argc == 4 ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
  if (!lib) {
    fprintf(stderr, "usage: %s train.so weights.safetensors data.csv (%s)\n", argv[0],
            argc == 4 ? dlerror() : "arguments");
    return 2;
  }
  dlc_model *(*create)(uint64_t);
  int (*load)(dlc_model *, const char *);
  int (*prepare)(const dlc_model *, const char *, const char *, float **, int64_t *);
  void (*forward)(dlc_model *, const void *const *, float *);
  const char *(*last_error)(void);
  LOAD(create, "dlc_create");
  LOAD(load, "dlc_load");
  LOAD(prepare, "dlc_prepare_csv");
  LOAD(forward, "dlc_forward");
  LOAD(last_error, "dlc_last_error");

  dlc_model *m = create(0);
  float *x = NULL;
  int64_t rows = 0;
  if (!m || load(m, argv[2]) || prepare(m, argv[2], argv[3], &x, &rows)) {
    fprintf(stderr, "error: %s\n", last_error());
    return 1;
  }
  int64_t width = DLC_INPUT_X_NUMEL / DLC_BATCH;
  float out[DLC_PREDICTION_NUMEL];
  for (int64_t b = 0; b + DLC_BATCH <= rows; b += DLC_BATCH) {
    const void *in[DLC_NUM_INPUTS] = {x + b * width, NULL};
    forward(m, in, out);
    for (int i = 0; i < DLC_BATCH; i++) printf("%.9g\n", (double)out[i]);
  }
  free(x);
  return 0;
}

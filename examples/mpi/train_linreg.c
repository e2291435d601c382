/* Data-parallel linear regression over MPI with dlc's train.so, and nothing of dlc's
 * driver: this program brings its own communicator, which shows that the ABI (dlc.h) is
 * enough for a user's MPI, NCCL or Gloo program.
 *
 *   dlc examples/linreg.def -o train.so           # AOT: train.so + train.h, no MPI inside
 *   mpicc -O2 -I runtime examples/mpi/train_linreg.c -o train_linreg -ldl
 *   mpirun -np 2 ./train_linreg ./train.so        # (as root: --allow-run-as-root)
 *
 * Every rank draws the same synthetic data (y = X w + b + noise, w = [2, -3.4], b = 4.2)
 * and the same parameters (same seed), takes its slice of each global batch of
 * size x batch rows, computes gradients into the flat buffer (dlc_gradients), sums the
 * buffer with MPI_Allreduce, divides by the number of ranks (each rank's gradients are a
 * mean over its slice), and applies the update (dlc_apply). Exit status 0 when the
 * learned weights are within 0.02 of the true ones and equal on every rank. */
#include <dlfcn.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlc.h"

/* The functions of dlc.h this program uses, looked up in train.so. */
typedef struct {
  const dlc_model_desc *(*describe)(void);
  dlc_model *(*create)(uint64_t);
  float (*gradients)(dlc_model *, const void *const[]);
  void (*apply)(dlc_model *);
  float *(*grad_buffer)(dlc_model *, int64_t *);
  int (*param)(const dlc_model *, int, dlc_tensor *);
  int (*num_params)(const dlc_model *);
  void (*destroy)(dlc_model *);
  const char *(*last_error)(void);
} dlc_api;

static int load_api(const char *path, dlc_api *api) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "train_linreg: %s\n", dlerror());
    return -1;
  }
  /* POSIX lets a void * from dlsym become a function pointer; C17 does not say so. */
#define SYM(field, name)                                         \
  if (!(*(void **)&api->field = dlsym(lib, name))) {             \
    fprintf(stderr, "train_linreg: %s lacks %s\n", path, name); \
    return -1;                                                   \
  }
  SYM(describe, "dlc_describe")
  SYM(create, "dlc_create")
  SYM(gradients, "dlc_gradients")
  SYM(apply, "dlc_apply")
  SYM(grad_buffer, "dlc_grad_buffer")
  SYM(param, "dlc_param")
  SYM(num_params, "dlc_num_params")
  SYM(destroy, "dlc_destroy")
  SYM(last_error, "dlc_last_error")
#undef SYM
  return 0;
}

/* A small seeded generator (splitmix64) and standard normals by Box-Muller: every rank
 * draws the same data without talking. */
static uint64_t next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}
static double uniform(uint64_t *s) { return ((double)(next(s) >> 11) + 0.5) / 9007199254740992.0; }
static double normal(uint64_t *s) { return sqrt(-2 * log(uniform(s))) * cos(6.283185307179586 * uniform(s)); }

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  dlc_api api = {0};
  if (argc != 2 || load_api(argv[1], &api)) {
    if (argc != 2 && rank == 0) fprintf(stderr, "usage: mpirun -np N train_linreg path/to/train.so\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const dlc_model_desc *d = api.describe();
  int b = d->batch; /* rows per rank and step: the batch train.so was compiled for */
  if (d->ninputs != 2 || d->inputs[0].shape[1] != 2) {
    if (rank == 0) fprintf(stderr, "train_linreg: %s is not linreg.def's model (X [batch, 2], y)\n", argv[1]);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }

  const double w_true[2] = {2, -3.4}, b_true = 4.2;
  enum { N = 2000, EPOCHS = 5 };
  float *X = malloc(sizeof(float) * N * 2), *y = malloc(sizeof(float) * N);
  uint64_t s = 42;
  for (int i = 0; i < N; i++) {
    X[2 * i] = (float)normal(&s);
    X[2 * i + 1] = (float)normal(&s);
    y[i] = (float)(w_true[0] * X[2 * i] + w_true[1] * X[2 * i + 1] + b_true + 0.01 * normal(&s));
  }

  dlc_model *m = api.create(7); /* the same seed on every rank: the same start */
  int64_t count;
  float *grads = api.grad_buffer(m, &count);
  if (!m || !grads) {
    fprintf(stderr, "train_linreg: rank %d: %s\n", rank, api.last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  float *xb = malloc(sizeof(float) * (size_t)b * 2), *yb = malloc(sizeof(float) * (size_t)b);
  const void *inputs[2] = {xb, yb};
  int global = b * size, steps = N / global;
  for (int epoch = 1; epoch <= EPOCHS; epoch++) {
    double loss_sum = 0;
    for (int step = 0; step < steps; step++) {
      int first = step * global + rank * b; /* this rank's slice of the global batch */
      memcpy(xb, X + 2 * first, sizeof(float) * (size_t)b * 2);
      memcpy(yb, y + first, sizeof(float) * (size_t)b);
      float loss = api.gradients(m, inputs);
      MPI_Allreduce(MPI_IN_PLACE, grads, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      for (int64_t i = 0; i < count; i++) grads[i] /= (float)size; /* mean over the global batch */
      api.apply(m);
      MPI_Allreduce(MPI_IN_PLACE, &loss, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      loss_sum += loss / size;
    }
    if (rank == 0) printf("epoch %d: mean loss %.6g\n", epoch, loss_sum / steps);
  }

  /* The learned weights, and proof that every rank holds the same ones. */
  int ok = 1;
  for (int p = 0; p < api.num_params(m); p++) {
    dlc_tensor t;
    api.param(m, p, &t);
    int n = (int)(t.rank == 2 ? t.shape[0] * t.shape[1] : t.shape[0]);
    const float *v = t.data;
    float *r0 = malloc(sizeof(float) * (size_t)n);
    memcpy(r0, v, sizeof(float) * (size_t)n);
    MPI_Bcast(r0, n, MPI_FLOAT, 0, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++) {
      double want = n == 2 ? w_true[i] : b_true;
      if (fabs(v[i] - want) > 0.02 || v[i] != r0[i]) ok = 0;
    }
    if (rank == 0) {
      printf("learned %s = [", t.name);
      for (int i = 0; i < n; i++) printf("%s%.5f", i ? ", " : "", v[i]);
      printf("]   true = [");
      for (int i = 0; i < n; i++) printf("%s%g", i ? ", " : "", n == 2 ? w_true[i] : b_true);
      printf("]\n");
    }
    free(r0);
  }
  int all_ok;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (rank == 0) printf("%d ranks, global batch %d: %s\n", size, global, all_ok ? "weights recovered" : "FAILED");
  api.destroy(m);
  free(X), free(y), free(xb), free(yb);
  MPI_Finalize();
  return all_ok ? 0 : 1;
}

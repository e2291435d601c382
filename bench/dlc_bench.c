/* The dlc side of the benchmark: compiles a model file with the JIT (frontend, the default
 * pass pipeline, backend) and times its training step on fixed-seed data.
 *
 *   dlc_bench MODEL.def [--steps N] [--warmup N] [--threads N] [--rows N] [--csv FILE]
 *
 * Data: --csv FILE reads a CSV of numbers with a header line, the features first and the
 * label last (the digits set); otherwise --rows rows of synthetic data: features uniform in
 * [0, 1), integer labels uniform over the prediction's classes, float labels a fixed linear
 * function of the features plus noise. Data generation is not timed. Step i trains on batch
 * i mod (rows / batch).
 *
 * Prints one line of key=value pairs: compile_ms (model file to callable step: read,
 * frontend, passes, JIT of the entries dlc train compiles) and compile_cpu_ms (its CPU time), the step's planned scratch
 * bytes, the matmul FLOPs of one step (2·m·n·k summed over @train_step's matmuls), the median, min and max step time (and the
 * median CPU time of the process per step, a check on a shared machine), and the
 * loss of the first and last timed step. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "be.h"
#include "dlc.h"
#include "fe.h"
#include "ir.h"
#include "passes.h"
#include "rt_threads.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the process (every thread): on a shared machine, time not spent waiting. */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (!s || fread(s, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    free(s);
    return NULL;
  }
  s[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return s;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double matmul_flops(const ir_module *m) {
  const ir_func *f = ir_module_find_func(m, "train_step");
  double flops = 0;
  for (int i = 0; f && i < f->nbody; i++) {
    const ir_node *n = f->body[i];
    if (n->op != IR_OP_MATMUL) continue;
    const ir_type *a = &n->args[0]->type;
    flops += 2.0 * (double)ir_type_numel(&n->type) * (double)a->dims[a->rank - 1];
  }
  return flops;
}

static int64_t numel(const dlc_tensor_desc *t, int from) {
  int64_t n = 1;
  for (int i = from; i < t->rank; i++) n *= t->shape[i];
  return n;
}

/* Rows of every input, row-major, as the model declares them. */
typedef struct {
  int64_t rows;
  void *data[8];
} dataset;

static int load_csv(const char *path, const dlc_model_desc *d, dataset *ds) {
  size_t len;
  char *text = read_file(path, &len);
  if (!text) return -1;
  int64_t rows = 0;
  for (size_t i = 0; i < len; i++) rows += text[i] == '\n';
  rows -= 1; /* header */
  int64_t nf = numel(&d->inputs[0], 1);
  float *x = malloc(sizeof(float) * (size_t)(rows * nf));
  int32_t *y = malloc(sizeof(int32_t) * (size_t)rows);
  char *p = strchr(text, '\n') + 1;
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < nf; c++) x[r * nf + c] = strtof(p, &p), p++;
    y[r] = (int32_t)strtol(p, &p, 10);
    while (*p == '\r' || *p == '\n') p++;
  }
  free(text);
  ds->rows = rows;
  ds->data[0] = x;
  ds->data[1] = y;
  return 0;
}

static void synthesize(const dlc_model_desc *d, int64_t rows, dataset *ds) {
  ds->rows = rows;
  int64_t classes = d->prediction.rank == 2 ? d->prediction.shape[1] : 2;
  for (int i = 0; i < d->ninputs; i++) {
    const dlc_tensor_desc *t = &d->inputs[i];
    int64_t per = numel(t, 1), n = rows * per;
    if (t->dtype == DLC_I32) {
      int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
      for (int64_t e = 0; e < n; e++) y[e] = (int32_t)(uniform() * (double)classes);
      ds->data[i] = y;
    } else if (i == 0) {
      float *x = malloc(sizeof(float) * (size_t)n);
      for (int64_t e = 0; e < n; e++) x[e] = (float)uniform();
      ds->data[i] = x;
    } else {
      /* A float label: a linear function of the first input's features, plus noise. */
      const float *x = ds->data[0];
      int64_t nf = numel(&d->inputs[0], 1);
      float *y = malloc(sizeof(float) * (size_t)n);
      for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < per; c++) {
          double v = 4.2 + 0.01 * (uniform() - 0.5);
          for (int64_t f = 0; f < nf; f++) v += (f % 2 ? -3.4 : 2.0) * x[r * nf + f];
          y[r * per + c] = (float)v;
        }
      ds->data[i] = y;
    }
  }
}

int main(int argc, char **argv) {
  const char *path = NULL, *csv = NULL;
  int steps = 50, warmup = 5, threads = 1;
  int64_t rows = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) warmup = atoi(argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      /* The range and message of `dlc train --threads`. */
      char *end;
      long n = strtol(argv[++i], &end, 10);
      if (*end || end == argv[i] || n < 1 || n > 256) {
        fprintf(stderr, "dlc_bench: error: --threads needs a whole number from 1 to 256, not '%s'\n", argv[i]);
        return 2;
      }
      threads = (int)n;
    }
    else if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) rows = atoll(argv[++i]);
    else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) csv = argv[++i];
    else if (argv[i][0] != '-' && !path) path = argv[i];
    else {
      fprintf(stderr, "usage: dlc_bench MODEL.def [--steps N] [--warmup N] [--threads N] [--rows N] [--csv FILE]\n");
      return 2;
    }
  }
  if (!path || steps < 1) {
    fprintf(stderr, "dlc_bench: a model file and at least one step are needed\n");
    return 2;
  }

  /* Compile: model file to callable step. */
  double t0 = now(), c0 = cpu_now();
  size_t len;
  char *src = read_file(path, &len);
  if (!src) {
    fprintf(stderr, "dlc_bench: cannot read %s: %s\n", path, strerror(errno));
    return 1;
  }
  fe_diagnostics diags;
  fe_diagnostics_init(&diags);
  ir_module *m = fe_compile(path, src, len, NULL, &diags);
  if (!m) {
    fe_print_diagnostics(stderr, &diags, src, len);
    return 1;
  }
  ir_error err = {0};
  if (!pass_run_pipeline(m, "shape-infer,autodiff,optimizer,simplify,fuse", NULL, &err)) {
    fprintf(stderr, "dlc_bench: passes: %s\n", err.msg);
    return 1;
  }
  be_options o = be_options_default();
  o.threads = threads;
  o.entries = DLC_ENTRY_TRAIN_STEP | DLC_ENTRY_EVAL_LOSS | DLC_ENTRY_FORWARD; /* what dlc train compiles */
  be_timings bt = {0};
  o.timings = &bt;
  be_jit *jit = NULL;
  const dlc_model_desc *d = NULL;
  if (!be_jit_compile(m, &o, &jit, &d, &err)) {
    fprintf(stderr, "dlc_bench: backend: %s\n", err.msg);
    return 1;
  }
  double compile_ms = (now() - t0) * 1e3, compile_cpu_ms = (cpu_now() - c0) * 1e3;
  double flops = matmul_flops(m);

  dlc_model *model = dlc_create_from(d, 42);
  if (!model) {
    fprintf(stderr, "dlc_bench: %s\n", dlc_last_error());
    return 1;
  }
  dataset ds = {0};
  if (csv) {
    if (load_csv(csv, d, &ds) != 0) {
      fprintf(stderr, "dlc_bench: cannot read %s\n", csv);
      return 1;
    }
  } else {
    synthesize(d, rows > 0 ? rows : 10 * (int64_t)d->batch, &ds);
  }
  int64_t nbatches = ds.rows / d->batch;
  if (nbatches < 1) {
    fprintf(stderr, "dlc_bench: fewer rows than one batch\n");
    return 1;
  }
  double *times = malloc(sizeof(double) * (size_t)steps), *cpu = malloc(sizeof(double) * (size_t)steps);
  float first = 0, last = 0;
  for (int s = 0; s < warmup + steps; s++) {
    const void *inputs[8];
    int64_t b = s % nbatches;
    for (int i = 0; i < d->ninputs; i++) {
      size_t esz = d->inputs[i].dtype == DLC_F64 || d->inputs[i].dtype == DLC_I64 ? 8 : 4;
      inputs[i] = (const char *)ds.data[i] + (size_t)(b * d->batch * numel(&d->inputs[i], 1)) * esz;
    }
    double ca = cpu_now(), a = now();
    float loss = dlc_train_step(model, inputs);
    double e = now(), ce = cpu_now();
    if (s >= warmup) {
      times[s - warmup] = e - a;
      cpu[s - warmup] = ce - ca;
      if (s == warmup) first = loss;
      last = loss;
    }
  }
  qsort(times, (size_t)steps, sizeof *times, cmp_double);
  qsort(cpu, (size_t)steps, sizeof *cpu, cmp_double);
  printf("compile_ms=%.2f compile_cpu_ms=%.2f codegen_ms=%.2f optimize_ms=%.2f jit_ms=%.2f scratch_bytes=%zu param_bytes=%zu "
         "state_bytes=%zu matmul_flops=%.0f median_ms=%.5f min_ms=%.5f max_ms=%.5f cpu_median_ms=%.5f loss_first=%.7g "
         "loss_last=%.7g threads=%d\n",
         compile_ms, compile_cpu_ms, bt.codegen * 1e3, bt.optimize * 1e3, bt.jit * 1e3, d->scratch_bytes, d->param_bytes,
         d->state_bytes, flops, times[steps / 2] * 1e3, times[0] * 1e3, times[steps - 1] * 1e3, cpu[steps / 2] * 1e3, first, last,
         rt_threads_get());
  free(times);
  free(cpu);
  for (int i = 0; i < d->ninputs; i++) free(ds.data[i]);
  dlc_destroy(model);
  be_jit_destroy(jit);
  ir_module_destroy(m);
  fe_diagnostics_free(&diags);
  free(src);
  return 0;
}

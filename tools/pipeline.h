/* The driver's one road from a model file to runnable code: read the file, compile it
 * with the frontend (batch size overridable), rewrite settings the command line
 * overrides (the learning rate), run the pass pipeline, JIT-compile the result into a
 * dlc_model_desc. Each stage is timed. `dlc train`, `dlc predict` and `dlc MODEL.def`
 * share it; the stages are separate functions so a caller can stop after any of them
 * (to print IR, or to write a shared library instead of JIT-compiling).
 *
 * This is driver code: failures are printed to stderr, compiler-style, with the model's
 * source line and a caret, and the functions return false. */
#ifndef DLC_PIPELINE_H
#define DLC_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "be.h"
#include "dlc.h"
#include "fe.h"
#include "ir.h"
#include "passes.h"

#define PL_DEFAULT_PIPELINE "shape-infer,autodiff,optimizer,simplify,fuse,memplan"

typedef struct {
  double read, frontend, passes;     /* seconds */
  be_timings backend;                /* codegen, optimize, jit (emit, link: AOT) */
} pl_timings;

typedef struct {
  const char *path;            /* the model file ("-": stdin) */
  int64_t batch;               /* 0: the model's own batch size */
  const char *lr;              /* NULL: the model's learning rate; else its new value (text) */
  const char *pipeline;        /* NULL: PL_DEFAULT_PIPELINE */
  const pass_options *passes;  /* NULL: verify after every pass, print nothing */
  const be_options *backend;   /* NULL: be_options_default() */
} pl_options;

typedef struct {
  char *source;                /* the model text (for diagnostics) */
  size_t len;
  ir_module *module;
  be_jit *jit;
  const dlc_model_desc *desc;  /* valid until pl_free */
  pl_timings time;
} pl_model;

/* The passes the driver adds to passes/' registry (the backend's memplan), and pass
 * options that include them. */
extern const pass_info pl_backend_passes[];
extern const int pl_backend_pass_count;
pass_options pl_pass_options(void);

/* Reads and compiles the model with the frontend and applies the overrides. */
bool pl_frontend(const pl_options *o, pl_model *out);
/* Runs the pass pipeline on out->module. */
bool pl_passes(const pl_options *o, pl_model *m);
/* JIT-compiles m->module into m->jit and m->desc. */
bool pl_jit(const pl_options *o, pl_model *m);
/* All three. */
bool pl_compile(const pl_options *o, pl_model *out);
void pl_free(pl_model *m);

/* Prints an error that points into the model source, clang-style (source line, caret). */
void pl_report(const pl_model *m, const char *path, const ir_error *err);

/* Replaces (or adds) lr=VALUE in an optimiser setting such as "sgd(lr=0.03, momentum=0.9)"
 * or "adam"; malloc'd result, NULL if `optimizer` is not of the form NAME or NAME(...). */
char *pl_set_lr(const char *optimizer, const char *lr);

/* The same model compiled for other batch sizes, on demand (an rt_model_factory): the
 * last partial batch of an epoch, the test set's. Models are created with `seed`, and
 * kept (with their compiled code) until pl_variants_free. */
typedef struct {
  pl_options opts;             /* as for the main model; batch is set per variant */
  uint64_t seed;
  int n, cap;
  pl_model *compiled;
  dlc_model **models;
  double compile_seconds;      /* spent compiling variants */
} pl_variants;

void pl_variants_init(pl_variants *v, const pl_options *o, uint64_t seed);
dlc_model *pl_variant(void *variants, int64_t batch);
void pl_variants_free(pl_variants *v);

#endif

/* dlc run: textual IR straight into the backend, for testing and inspecting it. Reads a
 * .dlir module, optionally runs passes, then prints its LLVM IR, assembly or DOT graph,
 * writes train.so (-o), or JIT-compiles it and runs a few training steps on deterministic
 * random inputs, printing each loss. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "data.h"
#include "dlc.h"
#include "driver.h"
#include "passes.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: dlc run FILE.dlir [-p PASS,...] [--print-after=PASS,...] [--steps N] [--seed S]\n"
          "               [--emit-llvm[=opt]] [--emit-asm] [--emit-dot] [-o train.so]\n"
          "               [--target-cpu CPU [--target-features LIST]] [--threads N] [--time-passes]\n"
          "Compiles textual IR with the backend. With --emit-* it prints and stops; with -o it\n"
          "writes train.so and train.h; otherwise it JIT-compiles the module and runs N training\n"
          "steps (default 3) on random inputs drawn from the seed, printing each loss, on N threads\n"
          "(default 1, or $DLC_THREADS).\n");
}

typedef struct {
  const char *input, *pipeline, *output, *print_after, *cpu, *features;
  bool emit_llvm, emit_llvm_opt, emit_asm, emit_dot, time;
  int steps;
  int64_t threads; /* 0: the pool as it is */
  unsigned long long seed;
} run_args;

static int parse_args(int argc, char **argv, run_args *a) {
  *a = (run_args){.steps = 3, .seed = 1};
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else if (drv_option(argc, argv, &i, "-p", &v)) {
      a->pipeline = v;
    } else if (drv_option(argc, argv, &i, "-o", &v)) {
      a->output = v;
    } else if (drv_option(argc, argv, &i, "--print-after", &v)) {
      a->print_after = v;
    } else if (drv_option(argc, argv, &i, "--target-cpu", &v)) {
      a->cpu = v;
    } else if (drv_option(argc, argv, &i, "--target-features", &v)) {
      a->features = v;
    } else if (drv_option(argc, argv, &i, "--threads", &v)) {
      if (!drv_parse_int("run", "--threads", v, 1, DRV_MAX_THREADS, &a->threads)) return 2;
    } else if (drv_option(argc, argv, &i, "--steps", &v)) {
      a->steps = atoi(v);
    } else if (drv_option(argc, argv, &i, "--seed", &v)) {
      a->seed = strtoull(v, NULL, 10);
    } else if (!strcmp(argv[i], "--emit-llvm")) {
      a->emit_llvm = true;
    } else if (!strcmp(argv[i], "--emit-llvm=opt")) {
      a->emit_llvm_opt = true;
    } else if (!strcmp(argv[i], "--emit-asm")) {
      a->emit_asm = true;
    } else if (!strcmp(argv[i], "--emit-dot")) {
      a->emit_dot = true;
    } else if (!strcmp(argv[i], "--time-passes")) {
      a->time = true;
    } else if (!drv_input("dlc run", argv[i], &a->input, usage)) {
      return 2;
    }
  }
  if (!a->input) {
    usage(stderr);
    return 2;
  }
  return -1;
}

static size_t dtype_size(int dt) { return dt == DLC_F64 || dt == DLC_I64 ? 8 : dt == DLC_BOOL ? 1 : 4; }

/* One batch of inputs: floats uniform in [-1, 1), integers in {0, 1}. */
static void **random_inputs(const dlc_model_desc *d, unsigned long long seed) {
  void **in = calloc((size_t)d->ninputs + 1, sizeof *in);
  unsigned long long s = seed * 2654435761u + 1;
  for (int i = 0; in && i < d->ninputs; i++) {
    size_t n = 1;
    for (int k = 0; k < d->inputs[i].rank; k++) n *= (size_t)d->inputs[i].shape[k];
    int dt = d->inputs[i].dtype;
    in[i] = calloc(n ? n : 1, dtype_size(dt));
    for (size_t e = 0; in[i] && e < n; e++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      double u = (double)(s >> 11) / 9007199254740992.0;
      if (dt == DLC_F32) ((float *)in[i])[e] = (float)(2 * u - 1);
      else if (dt == DLC_F64) ((double *)in[i])[e] = 2 * u - 1;
      else if (dt == DLC_I32) ((int *)in[i])[e] = u < 0.5 ? 0 : 1;
      else if (dt == DLC_I64) ((long long *)in[i])[e] = u < 0.5 ? 0 : 1;
      else ((unsigned char *)in[i])[e] = u < 0.5;
    }
  }
  return in;
}

static int run_jit(ir_module *m, const run_args *a, be_options *o) {
  be_jit *jit;
  const dlc_model_desc *d;
  ir_error err = {0};
  if (!be_jit_compile(m, o, &jit, &d, &err)) {
    drv_report(a->input, &err);
    return 1;
  }
  int status = 0;
  if (!a->emit_llvm && !a->emit_llvm_opt && !a->emit_asm) {
    dlc_model *model = dlc_create_from(d, a->seed);
    void **in = model ? random_inputs(d, a->seed) : NULL;
    if (!model || !in) {
      fprintf(stderr, "dlc run: error: %s\n", model ? "out of memory" : dlc_last_error());
      status = 1;
    } else if (d->train_step) {
      for (int s = 0; s < a->steps; s++)
        printf("step %d loss %.9g\n", s, dlc_train_step(model, (const void *const *)in));
    } else if (d->eval_loss) {
      printf("loss %.9g\n", dlc_eval_loss(model, (const void *const *)in));
    }
    for (int i = 0; in && i < d->ninputs; i++) free(in[i]);
    free(in);
    dlc_destroy(model);
  }
  be_jit_destroy(jit);
  return status;
}

int cmd_run(int argc, char **argv) {
  run_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc >= 0) return rc;
  size_t len;
  char *text = drv_read_file(a.input, &len);
  if (!text) return 1;
  ir_error err = {0};
  ir_module *m = ir_parse(text, len, &err);
  free(text);
  if (!m || !ir_verify_module(m, &err)) {
    drv_report(a.input, &err);
    if (m) ir_module_destroy(m);
    return 1;
  }
  pass_options po = {.verify_each = true, .print_after = a.print_after, .dump = stdout};
  if (a.pipeline && !pass_run_pipeline(m, a.pipeline, &po, &err)) {
    drv_report(a.input, &err);
    ir_module_destroy(m);
    return 1;
  }
  be_options o = be_options_default();
  be_timings t = {0};
  o.target_cpu = a.cpu;
  o.target_features = a.features;
  o.threads = (int)a.threads;
  o.emit_llvm = a.emit_llvm ? stdout : NULL;
  o.emit_llvm_opt = a.emit_llvm_opt ? stdout : NULL;
  o.emit_asm = a.emit_asm ? stdout : NULL;
  o.timings = a.time ? &t : NULL;
  int status = 0;
  if (a.emit_dot) {
    be_emit_dot(stdout, m);
  } else if (a.output) {
    if (!be_aot_compile(m, &o, a.output, &err)) {
      drv_report(a.input, &err);
      status = 1;
    }
  } else {
    status = run_jit(m, &a, &o);
  }
  if (a.time)
    fprintf(stderr, "backend: codegen %.3f ms, O3 %.3f ms, JIT %.3f ms, object %.3f ms, link %.3f ms\n",
            t.codegen * 1e3, t.optimize * 1e3, t.jit * 1e3, t.emit * 1e3, t.link * 1e3);
  ir_module_destroy(m);
  return status;
}

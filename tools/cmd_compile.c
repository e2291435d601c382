/* dlc MODEL.def: compile a model through every stage, printing any of them on request,
 * and write the result: a shared library (-o X.so, with train.h beside it), textual IR
 * (-o X.dlir), or the final IR on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "pipeline.h"

typedef struct {
  pl_options pl;
  pass_options passes;
  be_options backend;
  const char *output;     /* -o; NULL = stdout */
  bool emit_ir;           /* stop after the frontend and print its IR */
  bool emit_dot;
  bool time_passes;
  const char *emit_llvm;  /* NULL, "" (before O3) or "opt" */
  bool emit_asm;
  int64_t batch;
} compile_args;

static void usage(FILE *out) {
  fprintf(out,
          "usage: dlc MODEL.def [options]\n"
          "Compiles a model: frontend, passes (" PL_DEFAULT_PIPELINE "),\n"
          "LLVM. Without -o or a dump option it prints the final tensor IR.\n"
          "  -o FILE.so               AOT: shared library with the C ABI, and train.h beside it\n"
          "  -o FILE.dlir             the final tensor IR, to a file\n"
          "  --emit-ir                the IR the frontend produces (also --print-after=frontend)\n"
          "  -p PASS,PASS,...         the pass pipeline to run\n"
          "  --print-after-all        the IR after every pass (on stderr)\n"
          "  --print-before=PASS,...  --print-after=PASS,...\n"
          "  --time-passes            time per stage: frontend, each pass, LLVM codegen, O3, JIT\n"
          "  --emit-llvm[=opt]        the LLVM module before (or after) optimisation\n"
          "  --emit-asm               the machine code\n"
          "  --emit-dot               the IR as a Graphviz graph, each fused kernel a cluster\n"
          "  --batch N                fix the batch dimension to N (default: the model's `batch = N`)\n"
          "  --lr X                   override the optimiser's learning rate\n"
          "  --target-cpu NAME        the CPU to generate code for (AOT), as LLVM names it: znver4,\n"
          "                           skylake-avx512, ...; native (the default): this machine's\n"
          "  --target-features LIST   features beyond the CPU's own, as LLVM names them: +avx2,+fma,...\n");
}

static bool parse_batch(const char *v, int64_t *out) {
  char *end;
  long long n = strtoll(v, &end, 10);
  if (*v == '\0' || *end != '\0' || n < 1 || n > (1LL << 31)) {
    fprintf(stderr, "dlc: error: --batch needs a positive integer, got '%s'\n", v);
    return false;
  }
  *out = n;
  return true;
}

/* 0 on success, else the exit status. */
static int parse_args(int argc, char **argv, compile_args *a) {
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(argv[i], "--emit-ir")) {
      a->emit_ir = true;
    } else if (!strcmp(argv[i], "--print-after-all")) {
      a->passes.print_after_all = true;
    } else if (drv_option(argc, argv, &i, "--print-after", &v)) {
      if (!strcmp(v, "frontend")) a->emit_ir = true;
      else a->passes.print_after = v;
    } else if (drv_option(argc, argv, &i, "--print-before", &v)) {
      a->passes.print_before = v;
    } else if (!strcmp(argv[i], "--time-passes")) {
      a->time_passes = true;
    } else if (!strcmp(argv[i], "--emit-llvm")) {
      a->emit_llvm = "";
    } else if (!strcmp(argv[i], "--emit-llvm=opt")) {
      a->emit_llvm = "opt";
    } else if (!strcmp(argv[i], "--emit-asm")) {
      a->emit_asm = true;
    } else if (!strcmp(argv[i], "--emit-dot")) {
      a->emit_dot = true;
    } else if (drv_option(argc, argv, &i, "-p", &v)) {
      a->pl.pipeline = v;
    } else if (drv_option(argc, argv, &i, "--batch", &v)) {
      if (!parse_batch(v, &a->pl.batch)) return 1;
    } else if (drv_option(argc, argv, &i, "--lr", &v)) {
      a->pl.lr = v;
    } else if (drv_option(argc, argv, &i, "--target-cpu", &v)) {
      a->backend.target_cpu = v;
    } else if (drv_option(argc, argv, &i, "--target-features", &v)) {
      a->backend.target_features = v;
    } else if (drv_option(argc, argv, &i, "-o", &v)) {
      a->output = v;
    } else if (!drv_input("dlc", argv[i], &a->pl.path, usage)) {
      return 1;
    }
  }
  if (!a->pl.path) {
    usage(stderr);
    return 1;
  }
  return 0;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int write_ir(const ir_module *m, const char *path) {
  FILE *out = path ? fopen(path, "w") : stdout;
  if (!out) {
    perror(path);
    return 1;
  }
  ir_print_module(out, m);
  return (path ? fclose(out) : fflush(out)) == 0 ? 0 : 1;
}

static void print_times(const pl_model *m) {
  const pl_timings *t = &m->time;
  const be_timings *b = &t->backend;
  const struct {
    const char *stage;
    double seconds;
  } rows[] = {{"read", t->read},          {"frontend", t->frontend}, {"passes", t->passes},
              {"codegen", b->codegen},    {"optimize", b->optimize}, {"jit", b->jit},
              {"emit", b->emit},          {"link", b->link}};
  double total = 0;
  fprintf(stderr, "===== compile time =====\n%-10s %10s\n", "stage", "ms");
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    fprintf(stderr, "%-10s %10.3f\n", rows[i].stage, rows[i].seconds * 1e3);
    total += rows[i].seconds;
  }
  fprintf(stderr, "%-10s %10.3f\n", "total", total * 1e3);
}

/* The backend's part: an AOT library, or the JIT when a dump of LLVM's work was asked. */
static int run_backend(compile_args *a, pl_model *m) {
  be_options *bo = &a->backend;
  if (a->emit_llvm) *(*a->emit_llvm ? &bo->emit_llvm_opt : &bo->emit_llvm) = stdout;
  if (a->emit_asm) bo->emit_asm = stdout;
  bo->timings = &m->time.backend;
  ir_error err = {0};
  if (a->output && ends_with(a->output, ".so")) {
    if (!be_aot_compile(m->module, bo, a->output, &err)) {
      pl_report(m, a->pl.path, &err);
      return 1;
    }
    return 0;
  }
  if (!be_jit_compile(m->module, bo, &m->jit, &m->desc, &err)) {
    pl_report(m, a->pl.path, &err);
    return 1;
  }
  return 0;
}

int cmd_compile(int argc, char **argv) {
  compile_args a = {.passes = pl_pass_options(), .backend = be_options_default()};
  int status = parse_args(argc, argv, &a);
  if (status) return status;
  a.passes.time_passes = a.time_passes;
  a.passes.dump = stdout; /* what the user asked to see is the command's output */
  a.pl.passes = &a.passes;
  a.pl.backend = &a.backend;

  pl_model m;
  if (!pl_frontend(&a.pl, &m)) {
    pl_free(&m);
    return 1;
  }
  if (a.emit_ir) {
    status = write_ir(m.module, a.output);
  } else if (!pl_passes(&a.pl, &m)) {
    status = 1;
  } else if (a.emit_dot) {
    be_emit_dot(stdout, m.module);
  } else if ((a.output && ends_with(a.output, ".so")) || a.emit_llvm || a.emit_asm || a.time_passes) {
    status = run_backend(&a, &m);
  } else if (!a.passes.print_after_all && !a.passes.print_after && !a.passes.print_before) {
    status = write_ir(m.module, a.output);
  }
  if (a.time_passes && status == 0) print_times(&m);
  pl_free(&m);
  return status;
}

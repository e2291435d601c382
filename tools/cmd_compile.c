/* dlc MODEL.def: compile a model. For now: the frontend, its diagnostics on stderr, and
 * the tensor IR it produces (on stdout, or in the file given by -o). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "fe.h"

typedef struct {
  const char *model;
  const char *output;   /* -o; NULL = stdout */
  bool emit_ir;         /* --emit-ir or --print-after=frontend */
  fe_options fe;
} compile_args;

static void usage(FILE *out) {
  fprintf(out,
          "usage: dlc MODEL.def [--emit-ir | --print-after=frontend] [--batch N] [-o OUT]\n"
          "  --emit-ir                 print the tensor IR the frontend produces\n"
          "  --print-after=frontend    the same\n"
          "  --batch N                 fix the batch dimension to N (default: the model's `batch = N`)\n"
          "  -o OUT                    write to OUT instead of stdout\n");
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
    } else if (drv_option(argc, argv, &i, "--print-after", &v)) {
      if (strcmp(v, "frontend") != 0) {
        fprintf(stderr, "dlc: error: --print-after=%s: only 'frontend' can be printed here\n", v);
        return 1;
      }
      a->emit_ir = true;
    } else if (drv_option(argc, argv, &i, "--batch", &v)) {
      char *end;
      long long n = strtoll(v, &end, 10);
      if (*v == '\0' || *end != '\0' || n < 1 || n > (1LL << 31)) {
        fprintf(stderr, "dlc: error: --batch needs a positive integer, got '%s'\n", v);
        return 1;
      }
      a->fe.batch = n;
    } else if (drv_option(argc, argv, &i, "-o", &v)) {
      a->output = v;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "dlc: error: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return 1;
    } else if (a->model) {
      fprintf(stderr, "dlc: error: more than one model file ('%s' and '%s')\n", a->model, argv[i]);
      return 1;
    } else {
      a->model = argv[i];
    }
  }
  if (!a->model) {
    usage(stderr);
    return 1;
  }
  return 0;
}

int cmd_compile(int argc, char **argv) {
  compile_args a = {0};
  int status = parse_args(argc, argv, &a);
  if (status) return status;

  size_t len;
  char *source = drv_read_file(a.model, &len);
  if (!source) return 1;
  fe_diagnostics diags;
  fe_diagnostics_init(&diags);
  ir_module *m = fe_compile(a.model, source, len, &a.fe, &diags);
  fe_print_diagnostics(stderr, &diags, source, len);
  fe_diagnostics_free(&diags);
  free(source);
  if (!m) return 1;

  FILE *out = a.output ? fopen(a.output, "w") : stdout;
  if (!out) {
    perror(a.output);
    ir_module_destroy(m);
    return 1;
  }
  ir_print_module(out, m);
  status = (a.output ? fclose(out) : fflush(out)) == 0 ? 0 : 1;
  ir_module_destroy(m);
  return status;
}

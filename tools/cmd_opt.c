/* dlc opt: textual IR in, passes, textual IR out (LLVM's opt, for dlc's tensor IR). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "pipeline.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: dlc opt [FILE.dlir | -] [-p PASS,PASS,...] [-o OUT]\n"
          "               [--print-after-all] [--print-before=PASS,...] [--print-after=PASS,...]\n"
          "               [--time-passes]\n"
          "Reads textual IR (stdin when no file or '-'), verifies it, runs the passes and\n"
          "prints the result. Passes:\n");
  for (int i = 0; i < pass_count; i++)
    fprintf(out, "  %-14s %s\n", pass_registry[i].name, pass_registry[i].summary);
  for (int i = 0; i < pl_backend_pass_count; i++)
    fprintf(out, "  %-14s %s\n", pl_backend_passes[i].name, pl_backend_passes[i].summary);
}

int cmd_opt(int argc, char **argv) {
  const char *input = NULL, *pipeline = NULL, *output = NULL;
  pass_options opts = pl_pass_options();
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else if (drv_option(argc, argv, &i, "-p", &v) || drv_option(argc, argv, &i, "--passes", &v)) {
      pipeline = v;
    } else if (drv_option(argc, argv, &i, "-o", &v)) {
      output = v;
    } else if (!strcmp(argv[i], "--print-after-all")) {
      opts.print_after_all = true;
    } else if (drv_option(argc, argv, &i, "--print-before", &v)) {
      opts.print_before = v;
    } else if (drv_option(argc, argv, &i, "--print-after", &v)) {
      opts.print_after = v;
    } else if (!strcmp(argv[i], "--time-passes")) {
      opts.time_passes = true;
    } else if (!drv_input("dlc opt", argv[i], &input, usage)) {
      return 2;
    }
  }

  if (!input) input = "-";
  size_t len;
  char *text = drv_read_file(input, &len);
  if (!text) return 1;
  const char *shown = strcmp(input, "-") == 0 ? "<stdin>" : input;
  ir_error err = {0};
  ir_module *m = ir_parse(text, len, &err);
  free(text);
  int status = 1;
  if (!m) {
    drv_report(shown, &err);
  } else if (!ir_verify_module(m, &err)) {
    drv_report(shown, &err);
  } else if (pipeline && !pass_run_pipeline(m, pipeline, &opts, &err)) {
    drv_report(shown, &err);
  } else {
    FILE *out = output ? fopen(output, "w") : stdout;
    if (!out) {
      perror(output);
    } else {
      ir_print_module(out, m);
      status = (output ? fclose(out) : fflush(out)) == 0 ? 0 : 1;
    }
  }
  ir_module_destroy(m);
  return status;
}

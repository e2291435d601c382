/* The pass manager: runs a named pipeline, verifies between passes, prints the IR
 * around the passes asked for, and times each pass. */
#include "passes.h"

#include <string.h>
#include <time.h>

#define PASS(name, fn, summary) {name, fn, summary},
const pass_info pass_registry[] = {
#include "passes.def"
};
const int pass_count = (int)(sizeof pass_registry / sizeof pass_registry[0]);

const pass_info *pass_find(const char *name) {
  for (int i = 0; i < pass_count; i++)
    if (strcmp(pass_registry[i].name, name) == 0) return &pass_registry[i];
  return NULL;
}

bool pass_verify(ir_module *m, ir_error *err) { return ir_verify_module(m, err); }

/* Whether `name` is one of the comma-separated names in `list`. */
static bool listed(const char *list, const char *name) {
  if (!list) return false;
  size_t len = strlen(name);
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == len && strncmp(p, name, n) == 0) return true;
    p += n + (end ? 1 : 0);
  }
  return false;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void dump(FILE *out, const char *when, const char *pass, const ir_module *m) {
  fprintf(out, "// ----- IR %s %s -----\n", when, pass);
  ir_print_module(out, m);
}

#define MAX_PIPELINE 64

bool pass_run_pipeline(ir_module *m, const char *pipeline, const pass_options *opts,
                       ir_error *err) {
  static const pass_options defaults = {.verify_each = true};
  if (!opts) opts = &defaults;
  FILE *out = opts->dump ? opts->dump : stderr;
  const pass_info *run[MAX_PIPELINE];
  double seconds[MAX_PIPELINE];
  int count = 0;

  for (const char *p = pipeline; p && *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char name[64];
    if (n == 0 || n >= sizeof name) {
      ir_error_set(err, (ir_loc){0}, "bad pass name in pipeline '%s'", pipeline);
      return false;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    p += n + (end ? 1 : 0);
    const pass_info *pass = pass_find(name);
    for (int i = 0; !pass && i < opts->nextra; i++)
      if (strcmp(opts->extra[i].name, name) == 0) pass = &opts->extra[i];
    if (!pass) {
      char known[512] = "";
      for (int i = 0; i < pass_count + opts->nextra; i++) {
        const pass_info *p = i < pass_count ? &pass_registry[i] : &opts->extra[i - pass_count];
        strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
        strncat(known, p->name, sizeof known - strlen(known) - 1);
      }
      ir_error_set(err, (ir_loc){0}, "unknown pass '%s' (passes: %s)", name, known);
      return false;
    }
    if (count == MAX_PIPELINE) {
      ir_error_set(err, (ir_loc){0}, "pipeline longer than %d passes", MAX_PIPELINE);
      return false;
    }
    if (listed(opts->print_before, name)) dump(out, "before", name, m);
    double start = now_seconds();
    ir_error pass_err = {0};
    bool ok = pass->run(m, &pass_err);
    seconds[count] = now_seconds() - start;
    run[count++] = pass;
    if (!ok) {
      ir_error_set(err, pass_err.loc, "%s (in pass '%s')", pass_err.msg, name);
      return false;
    }
    if (opts->verify_each && !ir_verify_module(m, &pass_err)) {
      ir_error_set(err, pass_err.loc, "IR broken after pass '%s': %s", name, pass_err.msg);
      return false;
    }
    if (opts->print_after_all || listed(opts->print_after, name)) dump(out, "after", name, m);
  }

  if (opts->time_passes) {
    double total = 0;
    for (int i = 0; i < count; i++) total += seconds[i];
    fprintf(out, "===== pass execution times =====\n%-20s %10s %7s\n", "pass", "ms", "share");
    for (int i = 0; i < count; i++)
      fprintf(out, "%-20s %10.3f %6.1f%%\n", run[i]->name, seconds[i] * 1e3,
              total > 0 ? 100.0 * seconds[i] / total : 0.0);
    fprintf(out, "%-20s %10.3f\n", "total", total * 1e3);
  }
  return true;
}

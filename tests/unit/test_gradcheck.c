/* The gradient checker itself: seeded and repeatable, samples what it is asked to,
 * draws labels in the range their use allows, and `dlc gradcheck` exits with the
 * verdict. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "gradcheck.h"

static const char *model =
    "func @forward(%x: f32[4,3] input, %y: i32[4] input, %w: f32[3,6] param, %b: f32[6] param) {\n"
    "  %l0 = matmul %x, %w : f32[4,6]\n  %l = add %l0, %b : f32[4,6]\n"
    "  %ls = log_softmax %l axis=1 : f32[4,6]\n  %p = gather %ls, %y axis=1 : f32[4]\n"
    "  %m = reduce_mean %p axes=[0] : f32[]\n  %loss = neg %m : f32[]\n  output loss = %loss\n}\n";

static ir_module *parse_ok(const char *text) {
  ir_error err = {0};
  ir_module *m = ir_parse(text, strlen(text), &err);
  cr_assert_not_null(m, "%d:%d: %s", err.loc.line, err.loc.col, err.msg);
  return m;
}

/* The modules checked: a report's parameter names point into them, so they live until the
 * test ends. */
static ir_module *checked[64];
static int nchecked;

static void free_checked(void) {
  while (nchecked) ir_module_destroy(checked[--nchecked]);
}

static pass_gradcheck_report check(const pass_gradcheck_options *o, pass_gradcheck_init init, void *ctx) {
  cr_assert(nchecked < 64);
  ir_module *m = checked[nchecked++] = parse_ok(model);
  pass_gradcheck_report r;
  ir_error err = {0};
  cr_assert(pass_gradcheck(m, o, init, ctx, &r, &err), "%s", err.msg);
  return r;
}

TestSuite(gradcheck, .fini = free_checked);

Test(gradcheck, seeded_and_repeatable) {
  pass_gradcheck_options o = {.seed = 3};
  pass_gradcheck_report a = check(&o, NULL, NULL), b = check(&o, NULL, NULL);
  o.seed = 4;
  pass_gradcheck_report c = check(&o, NULL, NULL);
  cr_expect(a.ok && b.ok && c.ok);
  cr_expect_eq(a.loss, b.loss, "same seed, same point");
  cr_expect_neq(a.loss, c.loss, "another seed, another point");
  cr_expect_eq(a.params[0].max_abs, b.params[0].max_abs);
  pass_gradcheck_report_free(&a);
  pass_gradcheck_report_free(&b);
  pass_gradcheck_report_free(&c);
}

Test(gradcheck, samples_what_it_is_asked) {
  pass_gradcheck_options o = {.seed = 1, .samples = 5};
  pass_gradcheck_report r = check(&o, NULL, NULL);
  cr_assert_eq(r.nparams, 2);
  cr_expect_str_eq(r.params[0].name, "w");
  cr_expect_eq(r.params[0].checked, 5);
  cr_expect_eq(r.params[1].checked, 5);
  pass_gradcheck_report_free(&r);
  o.samples = 0;
  r = check(&o, NULL, NULL);
  cr_expect_eq(r.params[0].checked, 18, "0 = every element");
  cr_expect_eq(r.params[1].checked, 6);
  pass_gradcheck_report_free(&r);
}

/* Records the labels the checker drew. */
static void record_labels(void *ctx, const char *name, const ir_type *t, double *x) {
  if (strcmp(name, "y") == 0) memcpy(ctx, x, (size_t)ir_type_numel(t) * sizeof *x);
}

Test(gradcheck, labels_in_the_range_of_their_use) {
  /* y feeds a gather over 6 classes: every seed's labels are integers in [0, 6) (an
   * out-of-range label would make the interpreter's gather fail) */
  for (uint64_t seed = 1; seed <= 20; seed++) {
    double labels[4];
    pass_gradcheck_options o = {.seed = seed, .samples = 2, .directions = 1};
    pass_gradcheck_report r = check(&o, record_labels, labels);
    for (int i = 0; i < 4; i++)
      cr_expect(labels[i] >= 0 && labels[i] < 6 && labels[i] == floor(labels[i]), "label %g", labels[i]);
    pass_gradcheck_report_free(&r);
  }
}

/* Runs the dlc binary; returns its exit status and the first line of its output in line. */
static int run_dlc(const char *args, char *line, size_t size) {
  const char *dlc = getenv("DLC");
  if (!dlc) dlc = DLC_BINARY_DIR "/dlc";
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s gradcheck %s 2>&1", dlc, args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  line[0] = '\0';
  if (!fgets(line, (int)size, p)) line[0] = '\0';
  char rest[512];
  while (fgets(rest, sizeof rest, p)) {
  }
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(gradcheck, command_exit_status) {
  char line[512];
  cr_expect_eq(run_dlc(DLC_SOURCE_DIR "/examples/linreg.dlir --seed 2", line, sizeof line), 0, "%s", line);
  cr_expect(strstr(line, "@forward, loss") != NULL, "%s", line);
  cr_expect_eq(run_dlc(DLC_SOURCE_DIR "/tests/autodiff/gradcheck_mismatch.dlir", line, sizeof line), 1, "%s", line);
  cr_expect_eq(run_dlc(DLC_SOURCE_DIR "/examples/linreg.dlir --eps -1", line, sizeof line), 2, "%s", line);
  cr_expect(strstr(line, "bad value '-1' for --eps") != NULL, "%s", line);
  cr_expect_eq(run_dlc("/nonexistent.dlir", line, sizeof line), 1, "%s", line);
  cr_expect(strstr(line, "cannot open '/nonexistent.dlir'") != NULL, "%s", line);
}

/* AOT: train.so and train.h from the linear regression, loaded with dlopen by a separate C
 * program (tests/aot/linreg_main.c) that includes only train.h; it trains to the closed-form
 * solution, and two runs print bit-identical losses. The library needs nothing of LLVM. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_backend_util.h"

#define PIPELINE "shape-infer,autodiff,optimizer,simplify,fuse"

/* Runs a shell command; its stdout in a malloc'd string, its exit status in *status. */
static char *run(const char *cmd, int *status) {
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p, "%s", cmd);
  char *out = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&out, &len);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) fwrite(buf, 1, n, mem);
  fclose(mem);
  *status = pclose(p);
  return out;
}

static char tmpdir[64];

static void build_library(ir_module *m, const char *so) {
  tb_passes(m, PIPELINE);
  be_options o = be_options_default();
  o.runtime_dir = DLC_SOURCE_DIR "/runtime";
  be_timings t = {0};
  o.timings = &t;
  ir_error err = {0};
  cr_assert(be_aot_compile(m, &o, so, &err), "AOT: %s", err.msg);
  cr_expect(t.link > 0 && t.emit > 0 && t.optimize > 0, "timings filled");
  ir_module_destroy(m);
}

Test(backend_aot, dlopen_program_trains_linreg_to_closed_form) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/dlc-aot-test-XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
  char so[128], hdr[128], exe[128], cmd[1024];
  snprintf(so, sizeof so, "%s/train.so", tmpdir);
  snprintf(hdr, sizeof hdr, "%s/train.h", tmpdir);
  snprintf(exe, sizeof exe, "%s/linreg_main", tmpdir);
  build_library(tb_parse_file(DLC_SOURCE_DIR "/tests/backend/Inputs/linreg.dlir"), so);
  struct stat st;
  cr_assert(stat(so, &st) == 0 && stat(hdr, &st) == 0, "train.so and train.h written");

  /* The header carries the model's constants. */
  char *h = tb_read(hdr);
  cr_expect(strstr(h, "#define DLC_BATCH 32"), "%s", h);
  cr_expect(strstr(h, "#define DLC_INPUT_X_SHAPE {32, 2}"), "%s", h);
  cr_expect(strstr(h, "#define DLC_INPUT_Y_DTYPE DLC_F32"), "%s", h);
  cr_expect(strstr(h, "dlc_model *dlc_create(uint64_t seed);"), "%s", h);
  free(h);

  int status;
  snprintf(cmd, sizeof cmd, "ldd %s", so);
  char *deps = run(cmd, &status);
  cr_expect(!strstr(deps, "LLVM") && !strstr(deps, "libdlc"), "train.so depends on:\n%s", deps);
  free(deps);

  snprintf(cmd, sizeof cmd, "cc -std=c17 -Wall -Wextra -Werror -O1 -I%s -o %s %s/tests/aot/linreg_main.c -ldl -lm 2>&1",
           tmpdir, exe, DLC_SOURCE_DIR);
  char *out = run(cmd, &status);
  cr_assert_eq(status, 0, "compiling the user program: %s", out);
  free(out);

  snprintf(cmd, sizeof cmd, "%s %s 7", exe, so);
  char *first = run(cmd, &status);
  cr_expect_eq(status, 0, "the trained coefficients are off the closed form (see stderr)");
  char *second = run(cmd, &status);
  cr_expect_eq(status, 0);
  cr_expect(strlen(first) > 100, "losses printed");
  cr_expect_str_eq(first, second, "two runs with the same seed differ");
  free(first);
  free(second);

  unlink(exe);
  unlink(so);
  unlink(hdr);
  rmdir(tmpdir);
}

Test(backend_aot, missing_runtime_is_an_error_not_a_crash) {
  ir_module *m = tb_parse_file(DLC_SOURCE_DIR "/tests/backend/Inputs/linreg.dlir");
  be_options o = be_options_default();
  o.runtime_dir = "/nonexistent/runtime";
  ir_error err = {0};
  cr_expect(!be_aot_compile(m, &o, "/tmp/never-written.so", &err));
  cr_expect(strstr(err.msg, "/nonexistent/runtime"), "%s", err.msg);
  ir_module_destroy(m);
}

/* A classifier's train.so refuses a batch with a label outside its classes (the bound is in
 * train.h and in the descriptor), and its forward needs no labels (tests/aot/labels_main.c). */
Test(backend_aot, labels_outside_the_classes_are_refused) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/dlc-aot-test-XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
  char so[128], hdr[128], exe[128], cmd[1024];
  snprintf(so, sizeof so, "%s/train.so", tmpdir);
  snprintf(hdr, sizeof hdr, "%s/train.h", tmpdir);
  snprintf(exe, sizeof exe, "%s/labels_main", tmpdir);
  build_library(tb_compile_model(DLC_SOURCE_DIR "/examples/softmax.def", 8), so);

  char *h = tb_read(hdr);
  cr_expect(strstr(h, "/* input 1: y i32{8}, every value in [0, 10) */"), "%s", h);
  cr_expect(strstr(h, "#define DLC_INPUT_Y_BOUND 10"), "%s", h);
  free(h);

  int status;
  snprintf(cmd, sizeof cmd, "cc -std=c17 -Wall -Wextra -Werror -O1 -I%s -o %s %s/tests/aot/labels_main.c -ldl -lm 2>&1",
           tmpdir, exe, DLC_SOURCE_DIR);
  char *out = run(cmd, &status);
  cr_assert_eq(status, 0, "compiling the user program: %s", out);
  free(out);
  snprintf(cmd, sizeof cmd, "%s %s", exe, so);
  out = run(cmd, &status);
  cr_expect_eq(status, 0, "%s", out);
  cr_expect(strstr(out, "dlc_train_step: input 'y' holds 10 at element 3, outside [0, 10)"), "%s", out);
  free(out);

  unlink(exe);
  unlink(so);
  unlink(hdr);
  rmdir(tmpdir);
}

/* Trains `model` (its path from `dir`) with dlc train --save, builds its train.so, and
 * expects tests/aot/prepare_main.c's predictions for `csv` through dlc_prepare_csv to be
 * dlc predict's, digit for digit. The program's path is left in exe. */
static void expect_prepared_as_predicted(const char *dir, const char *model, const char *csv, char *exe,
                                         size_t exe_size) {
  const char *dlc = getenv("DLC") ? getenv("DLC") : DLC_BINARY_DIR "/dlc";
  char so[128], def[512], cmd[2048];
  snprintf(so, sizeof so, "%s/train.so", tmpdir);
  snprintf(exe, exe_size, "%s/prepare_main", tmpdir);
  snprintf(def, sizeof def, "%s/%s", dir, model);
  build_library(tb_compile_model(def, 0), so);

  int status;
  snprintf(cmd, sizeof cmd, "cd %s && %s train %s --save %s/w.safetensors --quiet 2>&1 && "
           "cc -std=c17 -Wall -Wextra -Werror -O1 -I%s -o %s %s/tests/aot/prepare_main.c -ldl 2>&1",
           dir, dlc, model, tmpdir, tmpdir, exe, DLC_SOURCE_DIR);
  char *out = run(cmd, &status);
  cr_assert_eq(status, 0, "training, or compiling the user program: %s", out);
  free(out);

  snprintf(cmd, sizeof cmd, "%s %s %s/w.safetensors %s", exe, so, tmpdir, csv);
  char *mine = run(cmd, &status);
  cr_expect_eq(status, 0, "%s", mine);
  snprintf(cmd, sizeof cmd, "cd %s && %s predict %s --load %s/w.safetensors --data %s 2>/dev/null | tail -n +2",
           dir, dlc, model, tmpdir, csv);
  char *theirs = run(cmd, &status);
  cr_expect_eq(status, 0);
  cr_expect(strlen(mine) > 16 * 2, "16 predictions or more: %s", mine);
  cr_expect_str_eq(mine, theirs, "train.so with dlc_prepare_csv and dlc predict differ");
  free(mine);
  free(theirs);
}

/* The rows `make_csv` prints, given to the program of expect_prepared_as_predicted: refused
 * with a message that holds `want`. */
static void expect_prepare_refuses(const char *exe, const char *make_csv, const char *want) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s > %s/refused.csv && %s %s/train.so %s/w.safetensors %s/refused.csv 2>&1", make_csv,
           tmpdir, exe, tmpdir, tmpdir, tmpdir);
  int status;
  char *out = run(cmd, &status);
  cr_expect_neq(status, 0, "%s", out);
  cr_expect(strstr(out, want), "%s", out);
  free(out);
}

/* dlc_prepare_csv from train.so: a checkpoint of `dlc train --save` prepares a CSV with
 * missing values and a categorical column (examples/house.def) into rows whose predictions
 * are dlc predict's, digit for digit (tests/aot/prepare_main.c); a file without one of the
 * columns is an error naming it. */
Test(backend_aot, prepared_rows_predict_as_dlc_predict, .timeout = 120) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/dlc-aot-test-XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
  char exe[128], cmd[2048];
  expect_prepared_as_predicted(DLC_SOURCE_DIR, "examples/house.def", DLC_SOURCE_DIR "/examples/data/house_tiny.csv",
                               exe, sizeof exe);

  expect_prepare_refuses(exe, "printf 'rooms,area,price\\n3,120,100000\\n'", "no column named \"alley\"");

  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  cr_expect_eq(system(cmd), 0);
}

/* A model whose data line only standardises reads its columns as plain numbers: the
 * checkpoint names them (dlc.features, in the order the model takes them, here not the
 * file's) beside their means and deviations, and dlc_prepare_csv reads and scales new rows
 * as dlc predict does, whatever the order of the new file's columns. */
Test(backend_aot, standardized_columns_prepare_as_dlc_predict, .timeout = 120) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/dlc-aot-test-XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
  char exe[128], cmd[2048];
  snprintf(cmd, sizeof cmd,
           "head -n 33 %s/examples/data/digits.csv > %s/digits32.csv && "
           "cut -d, -f65,44,21,22,29,37 %s/examples/data/digits.csv | head -n 17 > %s/new.csv && "
           "printf 'model digit\\nbatch = 8\\ninput x: f32[batch, 5]\\nlabel y: f32[batch, 1]\\n"
           "param w: f32[5, 1] = zeros\\nparam b: f32[1] = zeros\\nyhat = x @ w + b\\noutput yhat\\n"
           "loss 0.5 * mean((yhat - y) ^ 2)\\noptimizer sgd(lr = 0.01)\\ntrain epochs = 3\\n"
           "data csv(\"digits32.csv\", features = [pixel43, pixel20, pixel21, pixel28, pixel36], label = label, "
           "standardize = true)\\n' > %s/digit.def",
           DLC_SOURCE_DIR, tmpdir, DLC_SOURCE_DIR, tmpdir, tmpdir);
  cr_assert_eq(system(cmd), 0, "%s", cmd);
  char csv[128];
  snprintf(csv, sizeof csv, "%s/new.csv", tmpdir);
  expect_prepared_as_predicted(tmpdir, "digit.def", csv, exe, sizeof exe);

  snprintf(cmd, sizeof cmd, "cut -d, -f1-3,5 %s", csv);
  expect_prepare_refuses(exe, cmd, "no column named \"pixel36\"");

  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  cr_expect_eq(system(cmd), 0);
}

/* The frontend's public face: fe_compile on the examples, diagnostics as values (file,
 * line, column, severity, notes after their error), their clang-style printing, the
 * error limit, inputs without a NUL, options, and the tables the frontend shares with
 * the rest of dlc (every IR op callable by name, initialisers agreeing with the
 * runtime's parser). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"
#include "rt.h"
#include "rt_prep.h"

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* Compiles `src`; the diagnostics are left in *d (initialised here). */
static ir_module *compile(const char *src, const fe_options *opts, fe_diagnostics *d) {
  fe_diagnostics_init(d);
  return fe_compile("m.def", src, strlen(src), opts, d);
}

static char *printed(const fe_diagnostics *d, const char *src) {
  char *buf = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&buf, &size);
  fe_print_diagnostics(out, d, src, strlen(src));
  fclose(out);
  return buf;
}

static const char *const examples[] = {"linreg", "softmax", "mlp", "digits_mlp"};

Test(frontend, every_example_compiles_and_verifies) {
  for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/examples/%s.def", DLC_SOURCE_DIR, examples[i]);
    size_t len;
    char *src = read_file(path, &len);
    fe_diagnostics d;
    fe_diagnostics_init(&d);
    ir_module *m = fe_compile(path, src, len, NULL, &d);
    cr_assert_not_null(m, "%s: %s", examples[i], d.count ? d.items[0].message : "?");
    cr_assert_eq(d.count, 0, "%s has diagnostics: %s", examples[i], d.items[0].message);
    ir_error err = {0};
    cr_assert(ir_verify_module(m, &err), "%s: %s", examples[i], err.msg);
    ir_func *f = ir_module_find_func(m, "forward");
    cr_assert_not_null(f);
    ir_node *loss = ir_func_find_output(f, "loss");
    cr_assert_not_null(loss);
    cr_assert_eq(loss->type.rank, 0);
    cr_assert_eq(loss->type.dtype, IR_F32);
    cr_assert_not_null(ir_func_find_output(f, "prediction"));
    cr_assert_not_null(ir_module_get_meta(m, "optimizer"));
    cr_assert_not_null(ir_module_get_meta(m, "data"));
    cr_assert_not_null(ir_module_get_meta(m, "batch"));
    ir_module_destroy(m);
    fe_diagnostics_free(&d);
    free(src);
  }
}

Test(frontend, diagnostics_are_values_with_positions_and_notes) {
  const char *src = "input X: f32[4, 2]\n"
                    "param w: f32[2, 1] = zeros\n"
                    "w = X * 2\n"
                    "output X @ w\n"
                    "loss mean(X @ w)\n";
  fe_diagnostics d;
  ir_module *m = compile(src, NULL, &d);
  cr_assert_null(m);
  cr_assert_eq(d.nerrors, 1);
  cr_assert_eq(d.count, 2);
  cr_assert_eq(d.items[0].severity, FE_ERROR);
  cr_assert_str_eq(d.items[0].file, "m.def");
  cr_assert_eq(d.items[0].line, 3);
  cr_assert_eq(d.items[0].col, 1);
  cr_assert_str_eq(d.items[0].message, "redefinition of 'w'");
  cr_assert_eq(d.items[1].severity, FE_NOTE);
  cr_assert_eq(d.items[1].line, 2);
  cr_assert_eq(d.items[1].col, 7);
  cr_assert_str_eq(d.items[1].message, "'w' was first defined here");
  fe_diagnostics_free(&d);
}

Test(frontend, prints_clang_style_with_caret_and_range) {
  const char *src = "input X: f32[4, 3]\n"
                    "param b: f32[2] = zeros\n"
                    "h = X + b\n"
                    "output h\n"
                    "loss mean(h)\n";
  fe_diagnostics d;
  cr_assert_null(compile(src, NULL, &d));
  char *out = printed(&d, src);
  cr_assert_str_eq(out, "m.def:3:7: error: shapes of '+' do not broadcast: f32[4,3] and f32[2]\n"
                        "h = X + b\n"
                        "    ~~^~~\n");
  free(out);
  fe_diagnostics_free(&d);
}

Test(frontend, caret_keeps_tabs_aligned) {
  const char *src = "input X: f32[4, 3]\n"
                    "\th =\tbogus\n";
  fe_diagnostics d;
  cr_assert_null(compile(src, NULL, &d));
  char *out = printed(&d, src);
  cr_assert(strstr(out, "m.def:2:6: error: unknown name 'bogus'\n\th =\tbogus\n\t   \t^~~~~\n"), "%s", out);
  free(out);
  fe_diagnostics_free(&d);
}

Test(frontend, reports_several_errors_in_file_order) {
  /* A bad number (found by the lexer), a syntax error and an unknown name (found
   * later) come out in the order of the file. */
  const char *src = "input X: f32[4, 3]\n"
                    "a = X + nope\n"
                    "b = (X\n"
                    "c = X * 1.2.3\n"
                    "output X\n"
                    "loss mean(X)\n";
  fe_diagnostics d;
  cr_assert_null(compile(src, NULL, &d));
  cr_assert_eq(d.nerrors, 3);
  int lines[3], k = 0;
  for (int i = 0; i < d.count; i++)
    if (d.items[i].severity == FE_ERROR) lines[k++] = d.items[i].line;
  cr_assert(lines[0] == 2 && lines[1] == 3 && lines[2] == 4, "%d %d %d", lines[0], lines[1], lines[2]);
  fe_diagnostics_free(&d);
}

Test(frontend, stops_after_too_many_errors) {
  size_t cap = 200 * 16 + 64, n = 0;
  char *src = malloc(cap);
  for (int i = 0; i < 200; i++) n += (size_t)snprintf(src + n, cap - n, "x%d = nope\n", i);
  fe_diagnostics d;
  cr_assert_null(compile(src, NULL, &d));
  cr_assert_lt(d.nerrors, 60);
  cr_assert_gt(d.nerrors, 10);
  cr_assert_str_eq(d.items[d.count - 1].message, "too many errors; stopping here");
  fe_diagnostics_free(&d);
  free(src);
}

/* A copy of the text without the NUL after it: ASan catches any read past its end. */
static char *without_nul(const char *text, size_t len) {
  char *src = malloc(len);
  cr_assert_not_null(src);
  memcpy(src, text, len);
  return src;
}

Test(frontend, reads_exactly_len_bytes) {
  /* No NUL after the text: ASan catches any read past it. A NUL inside is an error. */
  const char text[] = "input X: f32[4, 3]\noutput X\nloss mean(X)\nz = 1e";
  size_t len = sizeof text - 1;
  char *src = without_nul(text, len);
  fe_diagnostics d;
  fe_diagnostics_init(&d);
  cr_assert_null(fe_compile("m.def", src, len, NULL, &d));
  cr_assert_str_eq(d.items[0].message, "invalid number '1e'");
  FILE *null = fopen("/dev/null", "w");
  fe_print_diagnostics(null, &d, src, len);
  fclose(null);
  fe_diagnostics_free(&d);
  fe_diagnostics_init(&d);
  memcpy(src, "output X\0", 9);
  cr_assert_null(fe_compile("m.def", src, len, NULL, &d));
  cr_assert_str_eq(d.items[0].message, "unexpected byte 0x00");
  fe_diagnostics_free(&d);
  free(src);
  fe_diagnostics_init(&d);
  cr_assert_null(fe_compile("m.def", NULL, 0, NULL, &d));
  cr_assert_eq(d.nerrors, 2); /* no loss, no output */
  fe_diagnostics_free(&d);
}

Test(frontend, names_a_utf8_character_whole_and_other_bytes_one_by_one) {
  /* The last sequence is cut short by the end of the text, which has no NUL after it. */
  const char text[] = "output X # \xc5\xb7 is fine here\n"
                      "\xc5\xb7 = 1\n"
                      "\xf0\x9f\x98\x80 = 1\n"
                      "\xb7 = 1\n"
                      "\xc0\xaf = 1\n"
                      "\xed\xa0\x80 = 1\n"
                      "z = \xe2\x82";
  static const struct {
    int line, col;
    const char *message;
  } want[] = {
      {2, 1, "'\xc5\xb7' (U+0177) cannot appear outside a string or comment: names are ASCII letters, digits and _"},
      {3, 1, "'\xf0\x9f\x98\x80' (U+1F600) cannot appear outside a string or comment: names are ASCII letters, digits and _"},
      {4, 1, "unexpected byte 0xb7"}, /* a continuation byte alone */
      {5, 1, "unexpected byte 0xc0"}, /* an overlong '/' */
      {5, 2, "unexpected byte 0xaf"},
      {6, 1, "unexpected byte 0xed"}, /* a UTF-16 surrogate */
      {6, 2, "unexpected byte 0xa0"},
      {6, 3, "unexpected byte 0x80"},
      {7, 5, "unexpected byte 0xe2"},
      {7, 6, "unexpected byte 0x82"},
  };
  size_t len = sizeof text - 1;
  char *src = without_nul(text, len);
  fe_diagnostics d;
  fe_diagnostics_init(&d);
  cr_assert_null(fe_compile("m.def", src, len, NULL, &d));
  size_t k = 0;
  for (int i = 0; i < d.count && k < sizeof want / sizeof want[0]; i++) {
    if (d.items[i].line != want[k].line) continue; /* the missing loss */
    cr_assert_eq(d.items[i].col, want[k].col, "%d:%d", d.items[i].line, d.items[i].col);
    cr_assert_str_eq(d.items[i].message, want[k].message);
    k++;
  }
  cr_assert_eq(k, sizeof want / sizeof want[0]);
  fe_diagnostics_free(&d);
  free(src);
}

Test(frontend, batch_comes_from_the_file_or_the_options) {
  const char *src = "batch = 10\ninput X: f32[batch, 3]\noutput X\nloss mean(X)\n";
  fe_diagnostics d;
  ir_module *m = compile(src, NULL, &d);
  cr_assert_not_null(m);
  cr_assert_eq(ir_module_find_func(m, "forward")->args[0]->type.dims[0], 10);
  cr_assert_str_eq(ir_module_get_meta(m, "batch"), "10");
  ir_module_destroy(m);
  fe_diagnostics_free(&d);

  fe_options o = {.batch = 3};
  m = compile(src, &o, &d);
  cr_assert_eq(ir_module_find_func(m, "forward")->args[0]->type.dims[0], 3);
  cr_assert_str_eq(ir_module_get_meta(m, "batch"), "3");
  ir_module_destroy(m);
  fe_diagnostics_free(&d);

  /* Without `batch = N` the option alone sets it; without either, it is an error. */
  const char *nobatch = "input X: f32[batch, 3]\noutput X\nloss mean(X)\n";
  m = compile(nobatch, &o, &d);
  cr_assert_not_null(m);
  cr_assert_eq(ir_module_find_func(m, "forward")->args[0]->type.dims[0], 3);
  ir_module_destroy(m);
  fe_diagnostics_free(&d);
  cr_assert_null(compile(nobatch, NULL, &d));
  cr_assert(strstr(d.items[0].message, "the batch size is not set"), "%s", d.items[0].message);
  fe_diagnostics_free(&d);
}

Test(frontend, diagnostics_accumulate_across_compilations) {
  fe_diagnostics d;
  cr_assert_null(compile("loss 1\noutput nope\n", NULL, &d));
  int before = d.nerrors;
  /* A second, correct model compiles although the list already holds errors. */
  const char *ok = "input X: f32[2]\noutput X\nloss mean(X)\n";
  ir_module *m = fe_compile("ok.def", ok, strlen(ok), NULL, &d);
  cr_assert_not_null(m);
  cr_assert_eq(d.nerrors, before);
  ir_module_destroy(m);
  fe_diagnostics_free(&d);
}

Test(frontend, warnings_do_not_fail_the_compilation) {
  const char *src = "input p: f32[8, 1]\nlabel y: f32[8]\noutput p\nloss mean(p - y)\n";
  fe_diagnostics d;
  ir_module *m = compile(src, NULL, &d);
  cr_assert_not_null(m);
  cr_assert_eq(d.nerrors, 0);
  cr_assert_eq(d.nwarnings, 1);
  cr_assert_eq(d.items[0].severity, FE_WARNING);
  cr_assert(strstr(d.items[0].message, "to f32[8,8]"), "%s", d.items[0].message);
  ir_module_destroy(m);
  fe_diagnostics_free(&d);
}

Test(frontend, every_ir_op_has_a_builtin_of_its_name) {
  const char *const *names = fe_builtin_names();
  for (int op = 0; op < IR_OP_COUNT; op++) {
    if (ir_ops[op].kind == IR_KIND_ARG || op == IR_OP_CONST) continue; /* declarations, literals */
    bool found = false;
    for (int i = 0; names[i]; i++) found = found || strcmp(names[i], ir_ops[op].name) == 0;
    cr_assert(found, "the language has no function for the IR op '%s'", ir_ops[op].name);
  }
}

/* Compiles a csv source with `missing = policy`; its canonical text or NULL, with the
 * first message in msg. */
static const char *missing_meta(const char *policy, char *msg, size_t size) {
  char src[512];
  snprintf(src, sizeof src,
           "input x: f32[2, 1]\nlabel y: f32[2, 1]\noutput x\nloss mean((x - y) ^ 2)\n"
           "data csv(\"d.csv\", label = y, missing = %s)\n", policy);
  fe_diagnostics d;
  ir_module *m = compile(src, NULL, &d);
  static char meta[512];
  const char *got = m ? ir_module_get_meta(m, "data") : NULL;
  if (got) snprintf(meta, sizeof meta, "%s", got);
  snprintf(msg, size, "%s", d.count ? d.items[0].message : "");
  if (!m) cr_assert_eq(d.items[0].line, 5, "%s: %s", policy, msg); /* at the data line */
  ir_module_destroy(m);
  fe_diagnostics_free(&d);
  return got ? meta : NULL;
}

Test(frontend, missing_policies_agree_with_the_runtime) {
  /* The frontend checks the policy where it is written; the runtime parses the same text. */
  static const char *const accepted[] = {
      "mean", "median", "mode", "error", "0", "-1.5", "constant(0)", "constant(\"Pave\")",
      "constant(value = 2)", "constant(Pave)", "fill(mean, rooms = median)", "fill(rooms = constant(0))",
      "fill(error, a = mode, b = 3)", "fill()",
  };
  static const char *const refused[] = {
      "maen", "constant", "constant(1, 2)", "constant(v = 1)", "[mean]", "\"mean\"", "fill(mean, median)",
      "fill(a = mean, a = mode)", "fill(a = fill(mean))", "constant([1])", "mean(1)", "a..b",
  };
  char msg[RT_ERR_MAX];
  for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
    const char *meta = missing_meta(accepted[i], msg, sizeof msg);
    cr_assert_not_null(meta, "%s: %s", accepted[i], msg);
    rt_prep *p = rt_prep_new();
    char *rest = NULL;
    cr_assert_eq(rt_prep_take_source(p, meta, &rest), 0, "%s -> %s: %s", accepted[i], meta, dlc_last_error());
    free(rest);
    rt_prep_free(p);
  }
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    cr_assert_null(missing_meta(refused[i], msg, sizeof msg), "%s accepted", refused[i]);
    rt_prep *p = rt_prep_new();
    cr_assert_neq(rt_prep_set(p, "missing", refused[i]), 0, "the runtime takes %s", refused[i]);
    rt_prep_free(p);
  }
}

Test(frontend, initialisers_agree_with_the_runtime) {
  /* Every spelling the frontend accepts compiles to a spec the runtime parses. */
  static const char *const specs[] = {
      "zeros", "ones", "zero", "one", "constant(0.5)", "uniform", "uniform(-0.1, 0.1)",
      "uniform(b = 2)", "normal", "normal(0, 0.01)", "normal(std = 0.1)", "xavier_uniform",
      "xavier_normal(gain = 2)", "glorot_uniform", "glorot_normal", "kaiming_uniform",
      "kaiming_normal(mode = fan_out)", "he_uniform(0.5)", "he_normal(a = 1, mode = fan_in)",
  };
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
    char src[256];
    snprintf(src, sizeof src, "param w: f32[3, 2] = %s\noutput w\nloss mean(w)\n", specs[i]);
    fe_diagnostics d;
    ir_module *m = compile(src, NULL, &d);
    cr_assert_not_null(m, "%s: %s", specs[i], d.count ? d.items[0].message : "");
    const char *meta = ir_module_get_meta(m, "init.w");
    char err[RT_ERR_MAX] = "";
    cr_assert_eq(rt_init_check(meta, err), 0, "%s -> %s: %s", specs[i], meta, err);
    cr_assert_not_null(fe_find_initializer(specs[i], strcspn(specs[i], "(")));
    ir_module_destroy(m);
    fe_diagnostics_free(&d);
  }
  /* And the canonical forms are what the docs say. */
  fe_diagnostics d;
  ir_module *m = compile("param w: f32[3, 2] = normal(std = 0.1)\nparam v: f32[2] = he_normal(mode = fan_out)\n"
                         "output w\nloss mean(w)\n", NULL, &d);
  cr_assert_str_eq(ir_module_get_meta(m, "init.w"), "normal(0, 0.1)");
  cr_assert_str_eq(ir_module_get_meta(m, "init.v"), "kaiming_normal(0, fan_out)");
  ir_module_destroy(m);
  fe_diagnostics_free(&d);
}

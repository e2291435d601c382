/* CSV reading: a good file, every accepted notation, and each malformed input with the
 * file, line, column and text its message must name. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"

static char tmpdir[64];

static void make_tmpdir(void) {
  strcpy(tmpdir, "/tmp/dlc_csv_XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(csv, .init = make_tmpdir, .fini = remove_tmpdir);

/* Writes text to <tmpdir>/name and returns the path (static storage). */
static const char *write_file(const char *name, const char *text) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *fp = fopen(path, "wb");
  cr_assert_not_null(fp);
  fwrite(text, 1, strlen(text), fp);
  fclose(fp);
  return path;
}

static const rt_csv_options all_but_label_y = {.label = "y", .label_dtype = DLC_F32};

/* Reading `text` fails, with a message that contains each of the `want` strings. */
static void expect_error(const char *text, const rt_csv_options *opt, const char *want1, const char *want2) {
  const char *path = write_file("bad.csv", text);
  rt_csv_table t;
  cr_assert_neq(rt_csv_read(path, opt, &t), 0, "should fail: %s", text);
  const char *msg = dlc_last_error();
  cr_assert(strstr(msg, want1), "message \"%s\" lacks \"%s\"", msg, want1);
  if (want2) cr_assert(strstr(msg, want2), "message \"%s\" lacks \"%s\"", msg, want2);
  cr_assert_null(t.x);
  cr_assert_null(t.y);
}

Test(csv, reads_selected_columns_and_class_labels) {
  const char *features[] = {"petal_width", "sepal_length"};
  rt_csv_options opt = {.features = features, .nfeatures = 2, .label = "species", .label_dtype = DLC_I32};
  rt_csv_table t;
  int rc = rt_csv_read(DLC_SOURCE_DIR "/tests/unit/data/iris6.csv", &opt, &t);
  cr_assert_eq(rc, 0, "%s", dlc_last_error());
  cr_assert_eq(t.rows, 6);
  cr_assert_eq(t.nfeatures, 2);
  cr_assert_str_eq(t.feature_names[0], "petal_width");
  cr_assert_str_eq(t.feature_names[1], "sepal_length");
  const float want_x[12] = {0.2f, 5.1f, 0.2f, 4.9f, 1.4f, 7.0f, 1.5f, 6.4f, 2.5f, 6.3f, 1.9f, 5.8f};
  for (int i = 0; i < 12; i++) cr_assert_eq(t.x[i], want_x[i], "x[%d] = %g", i, t.x[i]);
  const int32_t want_y[6] = {0, 0, 1, 1, 2, 2};
  cr_assert_eq(t.label_dtype, DLC_I32);
  cr_assert_arr_eq(t.y, want_y, sizeof want_y);
  cr_assert_eq(t.nclasses, 3);
  rt_csv_free(&t);
}

Test(csv, every_column_but_the_label_by_default) {
  const char *path = write_file("d.csv", "a,y,b\n1,10,2\n3,30,4\n");
  rt_csv_table t;
  cr_assert_eq(rt_csv_read(path, &all_but_label_y, &t), 0, "%s", dlc_last_error());
  cr_assert_eq(t.nfeatures, 2);
  cr_assert_str_eq(t.feature_names[0], "a");
  cr_assert_str_eq(t.feature_names[1], "b");
  cr_assert(t.x[0] == 1 && t.x[1] == 2 && t.x[2] == 3 && t.x[3] == 4);
  cr_assert(((float *)t.y)[0] == 10 && ((float *)t.y)[1] == 30);
  rt_csv_free(&t);

  rt_csv_options none = {0}; /* no label: every column is a feature */
  cr_assert_eq(rt_csv_read(path, &none, &t), 0, "%s", dlc_last_error());
  cr_assert_eq(t.nfeatures, 3);
  cr_assert_null(t.y);
  cr_assert_eq(t.x[4], 30);
  rt_csv_free(&t);
}

Test(csv, accepts_every_normal_number_notation_and_layout) {
  const char *text = "\xEF\xBB\xBF"        /* byte-order mark */
                     "x, \"y\" ,note\r\n"   /* CRLF, spaces, quoted header name */
                     "1,-2.5,plain\r\n"
                     "\r\n"                 /* blank line */
                     "1e-3, .5 ,\"a, b\"\r\n"
                     "+3,5.,\"two\nlines\"\n"
                     "\"1E+2\",-0,\"say \"\"hi\"\"\"\n"
                     "  \n"
                     "0.1e1,123456789012345678901234567890,x"; /* no final newline */
  rt_csv_table t;
  const char *path = write_file("ok.csv", text);
  /* "note" is text: it is never read, because only x and y are selected */
  const char *features[] = {"x"};
  rt_csv_options opt = {.features = features, .nfeatures = 1, .label = "y", .label_dtype = DLC_F32};
  cr_assert_eq(rt_csv_read(path, &opt, &t), 0, "%s", dlc_last_error());
  cr_assert_eq(t.rows, 5);
  cr_assert_eq(t.nfeatures, 1);
  const float want_x[5] = {1, 1e-3f, 3, 100, 1};
  const float want_y[5] = {-2.5f, 0.5f, 5, -0.0f, 1.23456789e29f};
  for (int i = 0; i < 5; i++) {
    cr_assert_eq(t.x[i], want_x[i], "x[%d] = %g", i, t.x[i]);
    cr_assert_eq(((float *)t.y)[i], want_y[i], "y[%d] = %g", i, ((float *)t.y)[i]);
  }
  rt_csv_free(&t);
}

Test(csv, a_non_number_names_file_line_column_and_text) {
  expect_error("a,b,y\n1,2,3\n4,5,6\n7,abc,9\n", &all_but_label_y, "/bad.csv:4:3: \"abc\" is not a number",
               "(column \"b\")");
  expect_error("a,y\n1,2\nnan,3\n", &all_but_label_y, "bad.csv:3:1: missing value (\"nan\") in column \"a\"",
               "fill such values with missing = mean, median, mode or constant(v)");
  expect_error("a,y\n1,2\n3,NA\n", &all_but_label_y, "bad.csv:3:3: missing value (\"NA\") in column \"y\"", NULL);
  expect_error("a,y\n1,2\ninf,3\n", &all_but_label_y, "bad.csv:3:1: \"inf\" is not a number", NULL);
  expect_error("a,y\n0x10,2\n", &all_but_label_y, "bad.csv:2:1: \"0x10\" is not a number", NULL);
  expect_error("a,y\n1,2\n3,4e\n", &all_but_label_y, "bad.csv:3:3: \"4e\" is not a number (column \"y\")", NULL);
  expect_error("a,y\n1,2\n3,1e39\n", &all_but_label_y, "bad.csv:3:3: \"1e39\" is out of range for f32", NULL);
  expect_error("a,y\n1,\"1,5\"\n", &all_but_label_y, "bad.csv:2:3: \"1,5\" is not a number", NULL);
}

Test(csv, an_empty_field_is_an_error_not_a_zero) {
  expect_error("a,b,y\n1,2,3\n4,,6\n", &all_but_label_y, "bad.csv:3:3: missing value (empty) in column \"b\"",
               "missing = mean");
}

Test(csv, a_ragged_row_is_an_error) {
  expect_error("a,b,y\n1,2,3\n4,5\n", &all_but_label_y, "bad.csv:3:4: row has 2 fields but the header has 3 columns",
               NULL);
  expect_error("a,b,y\n1,2,3,4\n", &all_but_label_y,
               "bad.csv:2:7: row has 4 fields but the header has 3 columns (extra field \"4\")", NULL);
  expect_error("a,b,y\n1,2,3,\n", &all_but_label_y, "row has 4 fields", NULL);
}

Test(csv, lines_are_counted_through_quoted_newlines) {
  const char *features[] = {"a"};
  rt_csv_options opt = {.features = features, .nfeatures = 1, .label = "y", .label_dtype = DLC_F32};
  expect_error("a,note,y\n1,\"x\ny\nz\",2\n3,ok,zz\n", &opt, "bad.csv:5:6: \"zz\" is not a number",
               NULL);
}

Test(csv, empty_files_and_header_only_files_are_errors) {
  expect_error("", &all_but_label_y, "bad.csv: the file is empty", NULL);
  expect_error("\n\n  \n", &all_but_label_y, "bad.csv: the file is empty", NULL);
  expect_error("a,y\n", &all_but_label_y, "bad.csv: no data rows after the header", NULL);
}

Test(csv, a_missing_column_suggests_the_closest_name) {
  const char *features[] = {"x3"};
  rt_csv_options opt = {.features = features, .nfeatures = 1, .label = "y", .label_dtype = DLC_F32};
  expect_error("x1,x2,y\n1,2,3\n", &opt, "bad.csv:1: no column named \"x3\"; did you mean \"x1\"?",
               "(the header has: x1, x2, y)");
  rt_csv_options lab = {.label = "Label", .label_dtype = DLC_I32};
  expect_error("a,label\n1,2\n", &lab, "no column named \"Label\"; did you mean \"label\"?", NULL);
  rt_csv_options far = {.label = "target", .label_dtype = DLC_F32};
  expect_error("a,b\n1,2\n", &far, "no column named \"target\" (the header has: a, b)", NULL);
  const char *fa[] = {"a"};
  rt_csv_options dup = {.features = fa, .nfeatures = 1};
  expect_error("a,y,a\n1,2,3\n", &dup, "column \"a\" appears twice in the header (columns 1 and 3)", NULL);
}

Test(csv, a_missing_file_is_named) {
  rt_csv_table t;
  cr_assert_neq(rt_csv_read("/nonexistent/dir/data.csv", &all_but_label_y, &t), 0);
  cr_assert(strstr(dlc_last_error(), "/nonexistent/dir/data.csv: cannot open: No such file or directory"), "%s",
            dlc_last_error());
}

Test(csv, class_labels_must_be_non_negative_integers) {
  rt_csv_options opt = {.label = "y", .label_dtype = DLC_I32};
  expect_error("a,y\n1,0\n2,2.5\n", &opt, "bad.csv:3:3: class label \"2.5\" is not a non-negative integer", NULL);
  expect_error("a,y\n1,-1\n", &opt, "bad.csv:2:3: class label \"-1\" is not", NULL);
  expect_error("a,y\n1,1e10\n", &opt, "bad.csv:2:3: class label \"1e10\" is not a class index below 2^31", NULL);
  const char *path = write_file("ok.csv", "a,y\n1,2.0\n2,1e1\n");
  rt_csv_table t;
  cr_assert_eq(rt_csv_read(path, &opt, &t), 0, "%s", dlc_last_error());
  cr_assert(((int32_t *)t.y)[0] == 2 && ((int32_t *)t.y)[1] == 10);
  cr_assert_eq(t.nclasses, 11);
  rt_csv_free(&t);
}

Test(csv, quoting_errors_are_located) {
  expect_error("a,y\n1,\"2\n", &all_but_label_y, "bad.csv:2:3: unterminated quoted field", NULL);
  expect_error("a,y\n1,\"2\"x\n", &all_but_label_y, "bad.csv:2:6: unexpected 'x' after a closing quote", NULL);
}

Test(csv, parse_from_memory_uses_the_given_name) {
  const char data[] = "a,y\n1,2\n3,q\n";
  rt_csv_table t;
  cr_assert_neq(rt_csv_parse("<memory>", data, sizeof data - 1, &all_but_label_y, &t), 0);
  cr_assert(strstr(dlc_last_error(), "<memory>:3:3: \"q\" is not a number"), "%s", dlc_last_error());
}

/* The strict number reader agrees bit for bit with strtod (correctly rounded in glibc)
 * on random decimal strings, including mantissas longer than 19 digits. */
Test(csv, numbers_are_correctly_rounded) {
  rt_rng r;
  rt_rng_seed(&r, 11);
  char s[96];
  for (int iter = 0; iter < 200000; iter++) {
    size_t n = 0;
    if (rt_rng_below(&r, 3) == 0) s[n++] = rt_rng_below(&r, 2) ? '-' : '+';
    int ndig = 1 + (int)rt_rng_below(&r, iter % 10 == 0 ? 40 : 17);
    int point = (int)rt_rng_below(&r, (uint64_t)ndig + 1);
    for (int d = 0; d < ndig; d++) {
      if (d == point && d > 0) s[n++] = '.';
      s[n++] = (char)('0' + rt_rng_below(&r, 10));
    }
    if (rt_rng_below(&r, 2)) n += (size_t)sprintf(s + n, "e%d", (int)rt_rng_below(&r, 700) - 350);
    s[n] = '\0';
    double got, want = strtod(s, NULL);
    cr_assert_eq(rt_parse_number(s, n, &got), 0, "%s refused", s);
    cr_assert(memcmp(&got, &want, sizeof got) == 0 || (got == 0 && want == 0), "%s: %.17g != %.17g", s, got, want);
  }
  const char *bad[] = {"", "+", "-", ".", "e5", "1e", "1e+", "1.2.3", " 1", "1 ", "0x1p3", "inf", "nan", "1,5", "--1", "1e5.5"};
  double v;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_assert_neq(rt_parse_number(bad[i], strlen(bad[i]), &v), 0, "\"%s\" accepted", bad[i]);
}

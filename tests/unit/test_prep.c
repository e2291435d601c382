/* Data preparation: every missing-value policy, one-hot encoding with and without a
 * "missing" column, unseen categories, standardisation after filling, the settings'
 * syntax, the training split, and the bad inputs with the file, line and column their
 * messages must name. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_prep.h"
#include "rt_train.h"

static char tmpdir[64];

static void make_tmpdir(void) {
  strcpy(tmpdir, "/tmp/dlc_prep_XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(prep, .init = make_tmpdir, .fini = remove_tmpdir);

/* Writes text to <tmpdir>/name; returns the path (one of a few static buffers). */
static const char *write_file(const char *name, const char *text) {
  static char paths[4][128];
  static int next;
  char *path = paths[next++ % 4];
  snprintf(path, 128, "%s/%s", tmpdir, name);
  FILE *fp = fopen(path, "wb");
  cr_assert_not_null(fp);
  fwrite(text, 1, strlen(text), fp);
  fclose(fp);
  return path;
}

static const char *const house =
    "rooms,alley,area,price\n"
    "3,Pave,100,10\n"
    "NA,,200,20\n"
    "4,Grvl,,30\n"
    "5,Pave,300,40\n";

static const rt_csv_options by_price = {.label = "price", .label_dtype = DLC_F32};

static rt_prep *prep_with(const char *const *kv) {
  rt_prep *p = rt_prep_new();
  cr_assert_not_null(p);
  for (; *kv; kv += 2) cr_assert_eq(rt_prep_set(p, kv[0], kv[1]), 0, "%s = %s: %s", kv[0], kv[1], dlc_last_error());
  return p;
}

/* Reads and prepares `text` with the settings kv; the table must come out as `want`. */
static void expect_matrix(const char *text, const char *const *kv, const char *const *names, int width,
                          const float *want, int rows) {
  rt_prep *p = prep_with(kv);
  rt_csv_table t;
  cr_assert_eq(rt_prep_read_csv(write_file("d.csv", text), &by_price, p, &t), 0, "%s", dlc_last_error());
  cr_assert_eq(t.rows, rows);
  cr_assert_eq(t.nfeatures, width, "width %d", t.nfeatures);
  for (int j = 0; j < width; j++) {
    cr_assert_str_eq(t.feature_names[j], names[j]);
    cr_assert_str_eq(rt_prep_output_name(p, j), names[j]);
  }
  for (int i = 0; i < rows * width; i++)
    cr_assert(t.x[i] == want[i], "x[%d][%d] = %.9g, want %.9g", i / width, i % width, t.x[i], want[i]);
  rt_csv_free(&t);
  rt_prep_free(p);
}

static void expect_error(const char *text, const char *const *kv, const rt_csv_options *opt, const char *want1,
                         const char *want2) {
  rt_prep *p = prep_with(kv);
  rt_csv_table t;
  cr_assert_neq(rt_prep_read_csv(write_file("bad.csv", text), opt, p, &t), 0, "should fail: %s", text);
  const char *msg = dlc_last_error();
  cr_assert(strstr(msg, want1), "message \"%s\" lacks \"%s\"", msg, want1);
  if (want2) cr_assert(strstr(msg, want2), "message \"%s\" lacks \"%s\"", msg, want2);
  cr_assert_null(t.x);
  rt_prep_free(p);
}

Test(prep, mean_fill_and_one_hot_with_a_missing_column_as_the_book_does) {
  const char *kv[] = {"missing", "mean", "categorical", "[alley]", "dummy_na", "true", NULL};
  const char *names[] = {"rooms", "alley=Grvl", "alley=Pave", "alley=nan", "area"};
  const float want[] = {3, 0, 1, 0, 100, /**/ 4, 0, 0, 1, 200, /**/ 4, 1, 0, 0, 200, /**/ 5, 0, 1, 0, 300};
  expect_matrix(house, kv, names, 5, want, 4);
}

Test(prep, median_mode_and_constant_per_column) {
  const char *text = "a,b,c,d,price\n1,1,NA,7,0\n2,2,5,nan,0\n10,2,6,,0\nNaN,3,,9,0\n";
  /* a: median of 1, 2, 10 = 2; b: none missing; c: mode of 5, 6 (a tie: the smaller);
   * d: constant -1 */
  const char *kv[] = {"missing", "fill(median, c = mode, d = constant(-1))", NULL};
  const char *names[] = {"a", "b", "c", "d"};
  const float want[] = {1, 1, 5, 7, /**/ 2, 2, 5, -1, /**/ 10, 2, 6, -1, /**/ 2, 3, 5, 9};
  expect_matrix(text, kv, names, 4, want, 4);
  /* An even count: the mean of the middle two. */
  const char *kv2[] = {"missing", "median", NULL};
  const float want2[] = {1, 1, 5.5f, 7, /**/ 2, 2, 5, 8, /**/ 10, 2, 6, 8, /**/ 2, 3, 5.5f, 9};
  expect_matrix(text, kv2, names, 4, want2, 4);
  /* A bare number is a constant. */
  const char *kv3[] = {"missing", "0", NULL};
  const float want3[] = {1, 1, 0, 7, /**/ 2, 2, 5, 0, /**/ 10, 2, 6, 0, /**/ 0, 3, 0, 9};
  expect_matrix(text, kv3, names, 4, want3, 4);
}

Test(prep, categorical_missing_values_follow_the_policy) {
  const char *names[] = {"rooms", "alley=Grvl", "alley=Pave", "area"};
  /* mode: Pave (twice) */
  const char *kv[] = {"missing", "fill(mean, alley = mode)", "categorical", "alley", NULL};
  const float want[] = {3, 0, 1, 100, /**/ 4, 0, 1, 200, /**/ 4, 1, 0, 200, /**/ 5, 0, 1, 300};
  expect_matrix(house, kv, names, 4, want, 4);
  /* mean on a categorical column: nothing to average, all zeros (get_dummies without dummy_na) */
  const char *kv2[] = {"missing", "mean", "categorical", "alley", NULL};
  const float want2[] = {3, 0, 1, 100, /**/ 4, 0, 0, 200, /**/ 4, 1, 0, 200, /**/ 5, 0, 1, 300};
  expect_matrix(house, kv2, names, 4, want2, 4);
  /* a constant category gets its own column, in sorted place */
  const char *kv3[] = {"missing", "fill(mean, alley = constant(\"None\"))", "categorical", "alley", NULL};
  const char *names3[] = {"rooms", "alley=Grvl", "alley=None", "alley=Pave", "area"};
  const float want3[] = {3, 0, 0, 1, 100, /**/ 4, 0, 1, 0, 200, /**/ 4, 1, 0, 0, 200, /**/ 5, 0, 0, 1, 300};
  expect_matrix(house, kv3, names3, 5, want3, 4);
}

Test(prep, standardisation_comes_after_filling_and_leaves_indicators_alone) {
  const char *kv[] = {"missing", "mean", "categorical", "alley", "dummy_na", "true", "standardize", "true", NULL};
  rt_prep *p = prep_with(kv);
  rt_csv_table t;
  cr_assert_eq(rt_prep_read_csv(write_file("d.csv", house), &by_price, p, &t), 0, "%s", dlc_last_error());
  /* rooms after filling: 3 4 4 5, mean 4, population deviation sqrt(0.5) */
  float sd = (float)sqrt(0.5);
  cr_assert(t.x[0] == (3 - 4.0f) / sd && t.x[5] == 0 && t.x[15] == (5 - 4.0f) / sd, "%.9g", t.x[0]);
  for (int r = 0; r < 4; r++) {
    float s = t.x[r * 5 + 1] + t.x[r * 5 + 2] + t.x[r * 5 + 3];
    cr_assert(s == 1, "row %d's indicators sum to %g", r, s);
  }
  /* area: 100 200 200 300 */
  cr_assert(t.x[4] == (100 - 200.0f) / (float)sqrt(5000.0), "%.9g", t.x[4]);
  rt_csv_free(&t);
  rt_prep_free(p);
}

Test(prep, unseen_categories_are_zeros_or_an_error_naming_value_and_place) {
  const char *kv[] = {"missing", "mean", "categorical", "alley", NULL};
  rt_prep *p = prep_with(kv);
  rt_csv_table t;
  cr_assert_eq(rt_prep_read_csv(write_file("train.csv", house), &by_price, p, &t), 0, "%s", dlc_last_error());
  rt_csv_free(&t);
  const char *fresh = write_file("new.csv", "rooms,alley,area,price\n2,Pave,150,5\n2,Gravel,150,5\n");
  cr_assert_neq(rt_prep_read_csv(fresh, &by_price, p, &t), 0);
  cr_assert(strstr(dlc_last_error(), "new.csv:3:3: category \"Gravel\" of column \"alley\" is not in the training "
                                     "data (it has: Grvl, Pave)"),
            "%s", dlc_last_error());
  cr_assert_eq(rt_prep_set(p, "unseen", "zeros"), 0);
  cr_assert_eq(rt_prep_read_csv(fresh, &by_price, p, &t), 0, "%s", dlc_last_error());
  const float want[] = {2, 0, 1, 150, /**/ 2, 0, 0, 150};
  for (int i = 0; i < 8; i++) cr_assert(t.x[i] == want[i], "x[%d] = %g", i, t.x[i]);
  rt_csv_free(&t);
  rt_prep_free(p);
}

Test(prep, bad_inputs_name_file_line_column_and_text) {
  const char *cat[] = {"categorical", "alley", NULL};
  const char *mean[] = {"missing", "mean", "categorical", "alley", NULL};
  /* a word in a numeric column */
  expect_error("rooms,alley,area,price\n3,Pave,100,10\nthree,Pave,100,10\n", mean, &by_price,
               "bad.csv:3:1: \"three\" is not a number (column \"rooms\")", "categorical = [rooms]");
  /* a missing feature under the default policy */
  expect_error("rooms,alley,area,price\n3,Pave,100,10\nNA,Pave,100,10\n", cat, &by_price,
               "bad.csv:3:1: missing value (\"NA\") in column \"rooms\", whose missing-value policy is error",
               "missing = mean");
  expect_error("rooms,alley,area,price\n3,,100,10\n", cat, &by_price, "bad.csv:2:3: missing value (empty) in column "
                                                                      "\"alley\"",
               "dummy_na = true");
  /* a missing label, under any policy */
  expect_error("rooms,alley,area,price\n3,Pave,100,\n", mean, &by_price,
               "bad.csv:2:12: missing label (empty) in column \"price\"", NULL);
  /* columns the file lacks */
  const char *typo[] = {"categorical", "[aley]", NULL};
  expect_error(house, typo, &by_price, "no column named \"aley\" (categorical); did you mean \"alley\"?", NULL);
  const char *fill_typo[] = {"missing", "fill(rom = mean)", NULL};
  expect_error(house, fill_typo, &by_price, "no column named \"rom\" (missing = fill(...)); did you mean \"rooms\"?",
               NULL);
  const char *const features[] = {"rooms", "are"};
  rt_csv_options opt = {.features = features, .nfeatures = 2, .label = "price", .label_dtype = DLC_F32};
  expect_error(house, mean, &opt, "bad.csv:1: no column named \"are\" (a feature); did you mean \"area\"?", NULL);
  rt_csv_options label = {.label = "prise", .label_dtype = DLC_F32};
  expect_error(house, mean, &label, "no column named \"prise\" (the label); did you mean \"price\"?", NULL);
  /* a label column cannot be categorical, and a setting must name a feature */
  const char *not_feature[] = {"categorical", "price", NULL};
  expect_error(house, not_feature, &by_price, "column \"price\" (named in categorical) is not one of the features", NULL);
  /* no values to learn from */
  const char *plain_mean[] = {"missing", "mean", NULL};
  expect_error("rooms,price\nNA,1\n,2\n", plain_mean, &by_price, "column \"rooms\" has no values in the training rows", NULL);
  /* a ragged row */
  expect_error("rooms,alley,area,price\n3,Pave,100\n", mean, &by_price, "bad.csv:2:11: row has 3 fields", NULL);
}

Test(prep, settings_are_checked) {
  rt_prep *p = rt_prep_new();
  cr_assert_neq(rt_prep_set(p, "missing", "average"), 0);
  cr_assert(strstr(dlc_last_error(), "error, mean, median, mode or constant(v)"), "%s", dlc_last_error());
  cr_assert_neq(rt_prep_set(p, "missing", "fill(rooms = mean, median)"), 0);
  cr_assert_neq(rt_prep_set(p, "missing", "fill(rooms = mean, rooms = median)"), 0);
  cr_assert(strstr(dlc_last_error(), "column 'rooms' has two policies"), "%s", dlc_last_error());
  cr_assert_neq(rt_prep_set(p, "unseen", "ignore"), 0);
  cr_assert_neq(rt_prep_set(p, "dummy_na", "maybe"), 0);
  cr_assert_neq(rt_prep_set(p, "onehot", "true"), 0);
  cr_assert(strstr(dlc_last_error(), "unknown data preparation setting 'onehot'"), "%s", dlc_last_error());
  cr_assert_not(rt_prep_active(p));
  cr_assert_eq(rt_prep_set(p, "standardize", "true"), 0);
  cr_assert_not(rt_prep_active(p), "standardize alone keeps the plain reader");
  cr_assert_eq(rt_prep_set(p, "categorical", "c0..c2"), 0);
  cr_assert(rt_prep_active(p));
  char text[256];
  cr_assert_eq(rt_prep_settings_text(p, text, sizeof text), 0);
  cr_assert_str_eq(text, "missing = error, categorical = [c0, c1, c2], standardize = true");
  rt_prep_free(p);
}

Test(prep, settings_are_taken_out_of_a_data_source) {
  rt_prep *p = rt_prep_new();
  char *rest;
  cr_assert_eq(rt_prep_take_source(p,
                                   "csv(path=data/house.csv, features=[rooms, alley, c1..c3], label=price, "
                                   "standardize=true, missing=fill(mean, rooms=median, lot=constant(0)), "
                                   "categorical=[alley], dummy_na=true, unseen=zeros)",
                                   &rest),
               0, "%s", dlc_last_error());
  cr_assert_str_eq(rest, "csv(path=data/house.csv, features=[rooms, alley, c1..c3], label=price, standardize=true)");
  char text[256];
  cr_assert_eq(rt_prep_settings_text(p, text, sizeof text), 0);
  cr_assert_str_eq(text, "missing = fill(mean, rooms = median, lot = constant(0)), categorical = [alley], "
                         "dummy_na = true, unseen = zeros, standardize = true");
  cr_assert(rt_prep_active(p));
  free(rest);
  /* a source without preparation settings comes back as it was */
  rt_prep *q = rt_prep_new();
  cr_assert_eq(rt_prep_take_source(q, "csv(path=\"my data.csv\", label=y)", &rest), 0);
  cr_assert_str_eq(rest, "csv(path=\"my data.csv\", label=y)");
  cr_assert_not(rt_prep_active(q));
  free(rest);
  cr_assert_neq(rt_prep_take_source(q, "csv(path=x.csv, missing=avg)", &rest), 0);
  cr_assert(strstr(dlc_last_error(), "at column 25"), "%s", dlc_last_error());
  rt_prep_free(p);
  rt_prep_free(q);
}

/* The preparation saved into a checkpoint's metadata and loaded back prepares new rows
 * into exactly the same bits. */
Test(prep, a_saved_preparation_is_reused_bit_for_bit) {
  const char *kv[] = {"missing", "fill(median, area = mean)", "categorical", "alley", "dummy_na", "true",
                      "standardize", "true", NULL};
  rt_prep *p = prep_with(kv);
  const char *train = write_file("train.csv",
                                 "rooms,alley,area,price\n3.3,Pave,101.7,10\nNA,,203.1,20\n4.1,Grvl,,30\n"
                                 "5.9,\"Pa,ve\",307.3,40\n0.7,Pave,1e3,50\n");
  rt_csv_table a, b;
  cr_assert_eq(rt_prep_read_csv(train, &by_price, p, &a), 0, "%s", dlc_last_error());
  rt_csv_free(&a);
  char *json;
  cr_assert_eq(rt_prep_to_json(p, &json), 0, "%s", dlc_last_error());
  float w = 1;
  dlc_tensor dummy = {.name = "w", .dtype = DLC_F32, .rank = 1, .shape = {1}, .data = &w};
  rt_meta meta = {RT_META_PREP, json};
  char ckpt[128];
  snprintf(ckpt, sizeof ckpt, "%s/w.safetensors", tmpdir);
  cr_assert_eq(rt_st_save(ckpt, &dummy, 1, &meta, 1), 0, "%s", dlc_last_error());
  rt_st_file *f;
  cr_assert_eq(rt_st_open(ckpt, &f), 0, "%s", dlc_last_error());
  rt_prep *q = rt_prep_new();
  cr_assert_eq(rt_prep_from_file(q, f), 1, "%s", dlc_last_error());
  rt_st_close(f);
  cr_assert(rt_prep_fitted(q));
  char *json2;
  cr_assert_eq(rt_prep_to_json(q, &json2), 0);
  cr_assert_str_eq(json2, json);
  const char *fresh = write_file("new.csv", "rooms,alley,area\n2.2,Grvl,NA\n,Pave,17.3\n1e1,,0.1\n9,\"Pa,ve\",5\n");
  rt_csv_options no_label = {0};
  cr_assert_eq(rt_prep_read_csv(fresh, &no_label, p, &a), 0, "%s", dlc_last_error());
  cr_assert_eq(rt_prep_read_csv(fresh, &no_label, q, &b), 0, "%s", dlc_last_error());
  cr_assert_eq(a.nfeatures, 6);
  cr_assert_eq(b.nfeatures, 6);
  cr_assert_eq(memcmp(a.x, b.x, sizeof(float) * 4 * 6), 0);
  cr_assert_null(b.y);
  for (int j = 0; j < 6; j++) cr_assert_str_eq(a.feature_names[j], b.feature_names[j]);
  cr_assert_str_eq(b.feature_names[2], "alley=Pa,ve");
  rt_csv_free(&a);
  rt_csv_free(&b);
  /* the layout for train.so's users */
  char *layout;
  cr_assert_eq(rt_prep_layout_json(q, &layout), 0);
  cr_assert(strstr(layout, "\"index\": 2, \"name\": \"alley=Pa,ve\", \"source\": \"alley\", \"kind\": "
                           "\"indicator\", \"category\": \"Pa,ve\""),
            "%s", layout);
  cr_assert(strstr(layout, "\"name\": \"alley=nan\", \"source\": \"alley\", \"kind\": \"indicator\", \"category\": null"),
            "%s", layout);
  free(layout);
  /* broken metadata is refused with a reason */
  cr_assert_neq(rt_prep_from_json(q, "{\"version\": 2}"), 0);
  cr_assert(strstr(dlc_last_error(), "not version 1"), "%s", dlc_last_error());
  cr_assert_neq(rt_prep_from_json(q, "{\"version\": 1, "), 0);
  free(json);
  free(json2);
  rt_prep_free(p);
  rt_prep_free(q);
}

/* With a held-out test set, only the training rows teach: the rows rt_data_split keeps. */
Test(prep, a_held_out_split_does_not_leak_into_the_fill_values) {
  char text[512] = "x,y\n";
  for (int i = 0; i < 20; i++) snprintf(text + strlen(text), sizeof text - strlen(text), "%d,%d\n", i * i, i);
  const char *kv[] = {"missing", "mean", NULL};
  rt_prep *p = prep_with(kv);
  cr_assert_eq(rt_prep_hold_out(p, 0.25, 7), 0);
  rt_csv_options opt = {.label = "y", .label_dtype = DLC_F32};
  rt_csv_table t;
  cr_assert_eq(rt_prep_read_csv(write_file("d.csv", text), &opt, p, &t), 0, "%s", dlc_last_error());
  rt_csv_free(&t);
  int64_t *idx, ntest;
  cr_assert_eq(rt_split_rows(20, 0.25, 7, &idx, &ntest), 0);
  cr_assert_eq(ntest, 5);
  double sum = 0;
  for (int64_t i = ntest; i < 20; i++) sum += (double)(idx[i] * idx[i]);
  char *json;
  cr_assert_eq(rt_prep_to_json(p, &json), 0);
  char want[64];
  snprintf(want, sizeof want, "\"fill\": %.9g", (double)(float)(sum / 15));
  cr_assert(strstr(json, want), "%s lacks %s", json, want);
  free(json);

  /* rt_split_rows is the split rt_data_split makes. */
  float rows[20];
  for (int i = 0; i < 20; i++) rows[i] = (float)i;
  rt_dataset all = {.rows = 20, .narrays = 1, .label = -1};
  all.arrays[0] = (rt_data_array){.name = "x", .dtype = DLC_F32, .width = 1, .data = rows};
  rt_dataset train, test;
  cr_assert_eq(rt_data_split(&all, 0.25, 7, &train, &test), 0, "%s", dlc_last_error());
  cr_assert_eq(test.rows, ntest);
  for (int64_t i = 0; i < 20; i++) {
    const float *v = i < ntest ? (float *)test.arrays[0].data + i : (float *)train.arrays[0].data + (i - ntest);
    cr_assert_eq((int64_t)*v, idx[i], "row %lld", (long long)i);
  }
  rt_data_free(&train);
  rt_data_free(&test);
  free(idx);
  rt_prep_free(p);
}

/* The streamed tokenizer gives the same records as the one over memory, whatever falls
 * on a chunk's edge: quoted line ends, "" escapes, CRLF split in two, a record longer
 * than a chunk. */
Test(prep, streamed_records_match_records_in_memory) {
  size_t cap = 400000, len = 0;
  char *text = malloc(cap);
  cr_assert_not_null(text);
  len += (size_t)snprintf(text, cap, "\xEF\xBB\xBF" "a,b,c\r\n");
  uint64_t s = 42;
  for (int rec = 0; len + 80000 < cap; rec++) {
    uint64_t r = rt_splitmix64(&s);
    int width = (int)(r % 300);
    if (rec == 500) width = 70000; /* longer than a chunk */
    len += (size_t)snprintf(text + len, cap - len, "%d,\"", rec);
    for (int i = 0; i < width; i++) {
      uint64_t k = (r >> 20) + (uint64_t)i * 2654435761u;
      text[len++] = k % 53 == 0 ? '\n' : k % 61 == 0 ? '"' : (char)('a' + k % 26);
      if (text[len - 1] == '"') text[len++] = '"';
    }
    len += (size_t)snprintf(text + len, cap - len, "\" , %llu%s", (unsigned long long)(r % 1000),
                            r % 3 == 0 ? "\r\n" : r % 3 == 1 ? "\n" : "\r");
    if (r % 7 == 0) len += (size_t)snprintf(text + len, cap - len, "\r\n  \n");
  }
  char path[128];
  snprintf(path, sizeof path, "%s/big.csv", tmpdir);
  FILE *fp = fopen(path, "wb");
  cr_assert_not_null(fp);
  fwrite(text, 1, len, fp);
  fclose(fp);
  rt_csv_reader m, f;
  rt_csv_reader_init(&m, path, text, len);
  cr_assert_eq(rt_csv_reader_open(&f, path), 0, "%s", dlc_last_error());
  int64_t records = 0;
  for (;;) {
    int a = rt_csv_next(&m), b = rt_csv_next(&f);
    cr_assert_eq(a, b, "record %lld: %d vs %d (%s)", (long long)records, a, b, dlc_last_error());
    if (a <= 0) break;
    records++;
    cr_assert_eq(m.nfields, f.nfields);
    cr_assert_eq(m.rec_line, f.rec_line, "record %lld", (long long)records);
    for (int i = 0; i < m.nfields; i++) {
      cr_assert_eq(m.fields[i].len, f.fields[i].len);
      cr_assert_eq(memcmp(m.fields[i].text, f.fields[i].text, m.fields[i].len), 0);
      cr_assert_eq(m.fields[i].line, f.fields[i].line);
      cr_assert_eq(m.fields[i].col, f.fields[i].col, "record %lld field %d", (long long)records, i);
    }
  }
  cr_assert_gt(records, 1000);
  rt_csv_reader_close(&m);
  rt_csv_reader_close(&f);
  free(text);
}

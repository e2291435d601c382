/* Data for training (runtime/train_source.c, runtime/train_data.c): the `data` entry's
 * text, CSV and .npy files checked against a model's inputs, the synthetic generator,
 * splitting, standardisation. Each bad input has its message checked. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_train.h"

/* A model with three features and a class label out of 5 classes, batch 4. */
static const dlc_tensor_desc cls_inputs[] = {{.name = "x", .dtype = DLC_F32, .rank = 2, .shape = {4, 3}},
                                             {.name = "y", .dtype = DLC_I32, .rank = 1, .shape = {4}}};
static const dlc_model_desc cls = {.abi_version = DLC_ABI_VERSION, .batch = 4, .ninputs = 2, .inputs = cls_inputs,
                                   .prediction = {.dtype = DLC_F32, .rank = 2, .shape = {4, 5}},
                                   .step_counter_offset = -1};

/* Regression on two features: X f32[10, 2], y f32[10, 1]. */
static const dlc_tensor_desc reg_inputs[] = {{.name = "X", .dtype = DLC_F32, .rank = 2, .shape = {10, 2}},
                                             {.name = "y", .dtype = DLC_F32, .rank = 2, .shape = {10, 1}}};
static const dlc_model_desc reg = {.abi_version = DLC_ABI_VERSION, .batch = 10, .ninputs = 2, .inputs = reg_inputs,
                                   .prediction = {.dtype = DLC_F32, .rank = 2, .shape = {10, 1}},
                                   .step_counter_offset = -1};

static char dir[64];

static void make_dir(void) {
  strcpy(dir, "/tmp/dlc-train-data-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(data, .init = make_dir, .fini = remove_dir);

/* Writes `text` to dir/name; returns the path (static buffer per call site is enough). */
static const char *write_file(const char *name, const char *text) {
  static char path[8][256];
  static int k;
  char *p = path[k++ % 8];
  snprintf(p, 256, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
  return p;
}

static rt_data_spec csv_spec(const char *path, const char *label) {
  rt_data_spec s = {0};
  char text[512];
  snprintf(text, sizeof text, "csv(path=\"%s\"%s%s)", path, label ? ", label=" : "", label ? label : "");
  cr_assert_eq(rt_data_spec_parse(text, &s), 0, "%s", dlc_last_error());
  return s;
}

/* ---- the data entry's text ------------------------------------------------------------ */

Test(data, parses_the_canonical_sources) {
  rt_data_spec s;
  cr_assert_eq(rt_data_spec_parse("csv(path=data/digits.csv, features=pixel0..pixel63, label=label, "
                                  "standardize=true)", &s), 0, "%s", dlc_last_error());
  cr_assert_eq(s.kind, RT_SOURCE_CSV);
  cr_assert_str_eq(s.path, "data/digits.csv");
  cr_assert_eq(s.nfeatures, 64);
  cr_assert_str_eq(s.features[0], "pixel0");
  cr_assert_str_eq(s.features[63], "pixel63");
  cr_assert_str_eq(s.label, "label");
  cr_assert(s.standardize);
  rt_data_spec_free(&s);

  cr_assert_eq(rt_data_spec_parse("csv(path=\"my data/a \\\"b\\\".csv\", features=[a, c1..c3, \"d e\"])", &s), 0,
               "%s", dlc_last_error());
  cr_assert_str_eq(s.path, "my data/a \"b\".csv");
  cr_assert_eq(s.nfeatures, 5);
  cr_assert_str_eq(s.features[1], "c1");
  cr_assert_str_eq(s.features[3], "c3");
  cr_assert_str_eq(s.features[4], "d e");
  cr_assert_null(s.label);
  rt_data_spec_free(&s);

  cr_assert_eq(rt_data_spec_parse("csv(path=../up/x.csv)", &s), 0, "%s", dlc_last_error());
  cr_assert_str_eq(s.path, "../up/x.csv");
  cr_assert_eq(rt_data_spec_resolve(&s, "models"), 0);
  cr_assert_str_eq(s.path, "models/../up/x.csv");
  rt_data_spec_free(&s);

  cr_assert_eq(rt_data_spec_parse("synthetic_linreg(w=[2, -3.4], b=4.2, n=1000, noise=0.01)", &s), 0);
  cr_assert_eq(s.kind, RT_SOURCE_SYNTHETIC);
  cr_assert_eq(s.nw, 2);
  cr_assert_float_eq(s.w[1], -3.4, 1e-12);
  cr_assert_float_eq(s.b, 4.2, 1e-12);
  cr_assert_eq(s.n, 1000);
  cr_assert_float_eq(s.noise, 0.01, 1e-12);
  cr_assert(!s.has_seed);
  rt_data_spec_free(&s);
  cr_assert_eq(rt_data_spec_parse("synthetic_linreg(w=[1], seed=7)", &s), 0, "%s", dlc_last_error());
  cr_assert(s.has_seed && s.seed == 7 && s.n == 1000 && s.b == 0);
  rt_data_spec_free(&s);

  cr_assert_eq(rt_data_spec_parse("npy(features=x.npy, labels=y.npy)", &s), 0);
  cr_assert_eq(s.kind, RT_SOURCE_NPY);
  cr_assert_str_eq(s.path, "x.npy,y.npy");
  cr_assert_eq(rt_data_spec_resolve(&s, "/d"), 0);
  cr_assert_str_eq(s.path, "/d/x.npy,/d/y.npy");
  rt_data_spec_free(&s);
}

Test(data, rejects_bad_sources_with_a_reason) {
  rt_data_spec s;
  cr_assert_neq(rt_data_spec_parse("parquet(path=x)", &s), 0);
  cr_assert(strstr(dlc_last_error(), "unknown source 'parquet'"), "%s", dlc_last_error());
  cr_assert_neq(rt_data_spec_parse("csv(path=x.csv, colour=red)", &s), 0);
  cr_assert(strstr(dlc_last_error(), "no setting 'colour'"), "%s", dlc_last_error());
  cr_assert_neq(rt_data_spec_parse("csv(path=x.csv, features=a..b)", &s), 0);
  cr_assert(strstr(dlc_last_error(), "range of columns"), "%s", dlc_last_error());
  cr_assert_neq(rt_data_spec_parse("csv(path=x.csv, features=[a, b, c1..x])", &s), 0);
  cr_assert(strstr(dlc_last_error(), "range of columns"), "%s", dlc_last_error());
  cr_assert_neq(rt_data_spec_parse("csv(path=x.csv, features=[a, b1..b3", &s), 0);
  cr_assert(strstr(dlc_last_error(), "expected ',' or ']'"), "%s", dlc_last_error());
  cr_assert_neq(rt_data_spec_parse("csv(path=x.csv, label=y", &s), 0);
  cr_assert(strstr(dlc_last_error(), "expected ',' or ')'"), "%s", dlc_last_error());
  cr_assert_neq(rt_data_spec_parse("synthetic_linreg(b=1)", &s), 0);
  cr_assert(strstr(dlc_last_error(), "true weights"), "%s", dlc_last_error());
  cr_assert_neq(rt_data_spec_parse("csv(path=\"x.csv)", &s), 0);
  cr_assert(strstr(dlc_last_error(), "unterminated string"), "%s", dlc_last_error());
}

/* ---- CSV ------------------------------------------------------------------------------ */

Test(data, reads_a_csv_for_the_models_inputs) {
  const char *p = write_file("a.csv", "a,b,c,label\n1,2,3,0\n4,5e-1,-6,4\n.5,+7,8.,2\n");
  rt_data_spec s = csv_spec(p, "label");
  rt_dataset d;
  cr_assert_eq(rt_data_load(&s, &cls, 0, 0, &d), 0, "%s", dlc_last_error());
  cr_assert_eq(d.rows, 3);
  cr_assert_eq(d.narrays, 2);
  cr_assert_eq(d.label, 1);
  cr_assert_eq(d.nclasses, 5);
  cr_assert_eq(d.arrays[0].width, 3);
  const float *x = d.arrays[0].data;
  const int32_t *y = d.arrays[1].data;
  float want[] = {1, 2, 3, 4, 0.5f, -6, 0.5f, 7, 8};
  for (int i = 0; i < 9; i++) cr_assert_eq(x[i], want[i]);
  cr_assert_eq(y[0], 0);
  cr_assert_eq(y[1], 4);
  cr_assert_eq(y[2], 2);
  rt_data_free(&d);
  rt_data_spec_free(&s);
}

Test(data, the_label_column_defaults_to_the_models_label_name_then_the_last) {
  /* a column called like the model's label input ("y") wins, wherever it is */
  const char *p = write_file("b.csv", "y,a,b,c\n1,10,20,30\n");
  rt_data_spec s = csv_spec(p, NULL);
  rt_dataset d;
  cr_assert_eq(rt_data_load(&s, &cls, 0, 0, &d), 0, "%s", dlc_last_error());
  cr_assert_eq(((int32_t *)d.arrays[1].data)[0], 1);
  cr_assert_eq(((float *)d.arrays[0].data)[0], 10);
  rt_data_free(&d);
  rt_data_spec_free(&s);
  p = write_file("c.csv", "a,b,c,target\n1,2,3,4\n");
  s = csv_spec(p, NULL);
  cr_assert_eq(rt_data_load(&s, &cls, 0, 0, &d), 0, "%s", dlc_last_error());
  cr_assert_eq(((int32_t *)d.arrays[1].data)[0], 4);
  rt_data_free(&d);
  rt_data_spec_free(&s);
}

Test(data, rows_to_predict_may_lack_the_label) {
  const char *p = write_file("d.csv", "a,b,c\n1,2,3\n4,5,6\n");
  rt_data_spec s = csv_spec(p, "label");
  rt_dataset d;
  cr_assert_eq(rt_data_load(&s, &cls, 0, 1, &d), 0, "%s", dlc_last_error());
  cr_assert(d.unlabeled);
  cr_assert_eq(d.rows, 2);
  rt_data_free(&d);
  /* for training, the label is required */
  cr_assert_neq(rt_data_load(&s, &cls, 0, 0, &d), 0);
  cr_assert(strstr(dlc_last_error(), "no column named \"label\""), "%s", dlc_last_error());
  rt_data_spec_free(&s);
}

/* Loads `text` as a CSV for the classifier and returns the error message. */
static const char *csv_error(const char *name, const char *text, const char *label) {
  const char *p = text ? write_file(name, text) : name;
  rt_data_spec s = csv_spec(p, label);
  rt_dataset d;
  cr_assert_neq(rt_data_load(&s, &cls, 0, 0, &d), 0, "%s loaded", name);
  rt_data_spec_free(&s);
  return dlc_last_error();
}

Test(data, bad_csvs_say_where_and_why) {
  const char *e = csv_error("ragged.csv", "a,b,c,label\n1,2,3,0\n4,5,1\n", "label");
  cr_assert(strstr(e, "ragged.csv:3:") && strstr(e, "row has 3 fields but the header has 4 columns"), "%s", e);
  e = csv_error("word.csv", "a,b,c,label\n1,2,3,0\n4,five,6,1\n", "label");
  cr_assert(strstr(e, "word.csv:3:3: ") && strstr(e, "five") && strstr(e, "not a number") &&
                strstr(e, "column \"b\""), "%s", e);
  e = csv_error("empty.csv", "", "label");
  cr_assert(strstr(e, "empty.csv") && strstr(e, "empty"), "%s", e);
  e = csv_error("nolabel.csv", "a,b,c,labl\n1,2,3,0\n", "label");
  cr_assert(strstr(e, "nolabel.csv:1") && strstr(e, "no column named \"label\"") && strstr(e, "did you mean \"labl\""),
            "%s", e);
  e = csv_error("/nonexistent/dir/missing.csv", NULL, "label");
  cr_assert(strstr(e, "/nonexistent/dir/missing.csv"), "%s", e);
  e = csv_error("width.csv", "a,b,label\n1,2,0\n", "label");
  cr_assert(strstr(e, "2 feature columns") && strstr(e, "'x'") && strstr(e, "takes 3"), "%s", e);
  e = csv_error("class.csv", "a,b,c,label\n1,2,3,5\n", "label");
  cr_assert(strstr(e, "label 5") && strstr(e, "0 to 4"), "%s", e);
  e = csv_error("negative.csv", "a,b,c,label\n1,2,3,-1\n", "label");
  cr_assert(strstr(e, "negative.csv:2:") && strstr(e, "-1"), "%s", e);
}

/* ---- .npy ----------------------------------------------------------------------------- */

Test(data, reads_npy_files_one_per_input_converting_dtypes) {
  double xs[6] = {1, 2, 3, 4, 5, 6};
  int64_t ys[2] = {3, 1};
  char px[256], py[256], both[600];
  snprintf(px, sizeof px, "%s/x.npy", dir);
  snprintf(py, sizeof py, "%s/y.npy", dir);
  dlc_tensor tx = {.name = "x", .dtype = DLC_F64, .rank = 2, .shape = {2, 3}, .data = xs};
  dlc_tensor ty = {.name = "y", .dtype = DLC_I64, .rank = 1, .shape = {2}, .data = ys};
  cr_assert_eq(rt_npy_save(px, &tx), 0, "%s", dlc_last_error());
  cr_assert_eq(rt_npy_save(py, &ty), 0, "%s", dlc_last_error());
  snprintf(both, sizeof both, "%s,%s", px, py);
  rt_data_spec s;
  cr_assert_eq(rt_data_spec_for_file(both, NULL, &s), 0);
  cr_assert_eq(s.kind, RT_SOURCE_NPY);
  rt_dataset d;
  cr_assert_eq(rt_data_load(&s, &cls, 0, 0, &d), 0, "%s", dlc_last_error());
  cr_assert_eq(d.rows, 2);
  cr_assert_eq(((float *)d.arrays[0].data)[5], 6.0f);
  cr_assert_eq(((int32_t *)d.arrays[1].data)[0], 3);
  rt_data_free(&d);
  rt_data_spec_free(&s);

  /* one file for a model with two inputs */
  cr_assert_eq(rt_data_spec_for_file(px, NULL, &s), 0);
  cr_assert_neq(rt_data_load(&s, &cls, 0, 0, &d), 0);
  cr_assert(strstr(dlc_last_error(), "1 .npy file for a model with 2 inputs"), "%s", dlc_last_error());
  rt_data_spec_free(&s);
  /* a width that does not fit */
  snprintf(both, sizeof both, "%s,%s", py, py);
  cr_assert_eq(rt_data_spec_for_file(both, NULL, &s), 0);
  cr_assert_neq(rt_data_load(&s, &cls, 0, 0, &d), 0);
  cr_assert(strstr(dlc_last_error(), "input 'x'") && strstr(dlc_last_error(), "takes 3"), "%s", dlc_last_error());
  rt_data_spec_free(&s);
}

/* ---- synthetic, split, standardisation ------------------------------------------------ */

Test(data, the_synthetic_source_is_seeded_and_fits_its_weights) {
  rt_data_spec s;
  cr_assert_eq(rt_data_spec_parse("synthetic_linreg(w=[2, -3.4], b=4.2, n=500, noise=0)", &s), 0);
  rt_dataset a, b, c;
  cr_assert_eq(rt_data_load(&s, &reg, 5, 0, &a), 0, "%s", dlc_last_error());
  cr_assert_eq(rt_data_load(&s, &reg, 5, 0, &b), 0);
  cr_assert_eq(rt_data_load(&s, &reg, 6, 0, &c), 0);
  cr_assert_eq(a.rows, 500);
  cr_assert_arr_eq(a.arrays[0].data, b.arrays[0].data, 500 * 2 * sizeof(float));
  cr_assert(memcmp(a.arrays[0].data, c.arrays[0].data, 500 * 2 * sizeof(float)) != 0);
  const float *x = a.arrays[0].data, *y = a.arrays[1].data;
  double mean = 0, var = 0;
  for (int r = 0; r < 500; r++) {
    cr_assert_float_eq(y[r], 2 * (double)x[2 * r] - 3.4 * (double)x[2 * r + 1] + 4.2, 1e-4);
    mean += x[2 * r];
  }
  mean /= 500;
  for (int r = 0; r < 500; r++) var += (x[2 * r] - mean) * (x[2 * r] - mean);
  cr_assert(fabs(mean) < 0.2 && fabs(var / 500 - 1) < 0.2, "features should be standard normal");
  rt_data_free(&a);
  rt_data_free(&b);
  rt_data_free(&c);
  /* the model must fit the generator */
  cr_assert_neq(rt_data_load(&s, &cls, 5, 0, &c), 0);
  cr_assert(strstr(dlc_last_error(), "synthetic source"), "%s", dlc_last_error());
  rt_data_spec_free(&s);
}

Test(data, a_split_is_seeded_and_partitions_the_rows) {
  rt_data_spec s;
  cr_assert_eq(rt_data_spec_parse("synthetic_linreg(w=[1, 1], b=0, n=100)", &s), 0);
  rt_dataset all, tr, te, tr2, te2;
  cr_assert_eq(rt_data_load(&s, &reg, 1, 0, &all), 0);
  cr_assert_eq(rt_data_split(&all, 0.25, 9, &tr, &te), 0);
  cr_assert_eq(rt_data_split(&all, 0.25, 9, &tr2, &te2), 0);
  cr_assert_eq(te.rows, 25);
  cr_assert_eq(tr.rows, 75);
  cr_assert_arr_eq(te.arrays[1].data, te2.arrays[1].data, 25 * sizeof(float));
  /* every row of `all` is in exactly one part (labels are distinct floats) */
  const float *y = all.arrays[1].data;
  for (int r = 0; r < 100; r++) {
    int hits = 0;
    for (int i = 0; i < 75; i++) hits += ((float *)tr.arrays[1].data)[i] == y[r];
    for (int i = 0; i < 25; i++) hits += ((float *)te.arrays[1].data)[i] == y[r];
    cr_assert_eq(hits, 1, "row %d", r);
  }
  rt_dataset x, z;
  cr_assert_neq(rt_data_split(&all, 1.5, 9, &x, &z), 0);
  rt_data_free(&all);
  rt_data_free(&tr);
  rt_data_free(&te);
  rt_data_free(&tr2);
  rt_data_free(&te2);
  rt_data_spec_free(&s);
}

Test(data, standardisation_round_trips_through_metadata) {
  const char *p = write_file("s.csv", "a,b,c,label\n1,5,0,0\n3,5,10,1\n5,5,20,2\n");
  rt_data_spec s = csv_spec(p, "label");
  rt_dataset d;
  cr_assert_eq(rt_data_load(&s, &cls, 0, 0, &d), 0, "%s", dlc_last_error());
  rt_standardizer st, back;
  cr_assert_eq(rt_standardizer_fit(&d, &st), 0);
  cr_assert_float_eq(st.mean[0], 3, 1e-6);
  cr_assert_float_eq(st.std[0], sqrt(8.0 / 3), 1e-6);
  cr_assert_eq(st.std[1], 1.0f, "a constant column is only centred");
  char *m, *sd;
  cr_assert_eq(rt_standardizer_to_meta(&st, &m, &sd), 0);
  cr_assert_eq(rt_standardizer_from_meta(m, sd, &back), 0, "%s", dlc_last_error());
  cr_assert_eq(back.width, 3);
  for (int j = 0; j < 3; j++) {
    cr_assert_eq(back.mean[j], st.mean[j]);
    cr_assert_eq(back.std[j], st.std[j]);
  }
  cr_assert_eq(rt_standardizer_apply(&back, &d), 0);
  const float *x = d.arrays[0].data;
  cr_assert_float_eq(x[0] + x[3] + x[6], 0, 1e-6);
  cr_assert_eq(x[1], 0.0f);
  rt_standardizer_free(&back);
  cr_assert_neq(rt_standardizer_from_meta("[1, 2]", "[1]", &back), 0);
  cr_assert_neq(rt_standardizer_from_meta("[1, x]", "[1, 1]", &back), 0);
  free(m);
  free(sd);
  rt_standardizer_free(&st);
  rt_standardizer_free(&back);
  rt_data_free(&d);
  rt_data_spec_free(&s);
}

/* rt_inspect_csv: the statistics describe() would give, missing values, the most common
 * values, and the bounds that keep memory small on large files. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_prep.h"

static char path[128];

static void write_file(const char *text) {
  strcpy(path, "/tmp/dlc_inspect_XXXXXX");
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  FILE *fp = fdopen(fd, "wb");
  fwrite(text, 1, strlen(text), fp);
  fclose(fp);
}

Test(inspect, statistics_as_describe_gives_them) {
  write_file("n,c,\"mixed col\",y\n1,a,1,0\n2,b,x2,1\nNA,a,3,0\n4,,\"4\",1\n5,a,nan,2\n");
  rt_inspect_report r;
  cr_assert_eq(rt_inspect_csv(path, &r), 0, "%s", dlc_last_error());
  unlink(path);
  cr_assert_eq(r.rows, 5);
  cr_assert_eq(r.ncols, 4);
  const rt_inspect_column *n = &r.cols[0], *c = &r.cols[1], *m = &r.cols[2], *y = &r.cols[3];
  cr_assert(n->numeric && n->integral);
  cr_assert_eq(n->count, 4);
  cr_assert_eq(n->missing, 1);
  /* 1 2 4 5: mean 3, sample deviation sqrt(10/3), quartiles by linear interpolation */
  cr_assert(n->min == 1 && n->max == 5 && fabs(n->mean - 3) < 1e-12);
  cr_assert(fabs(n->std - sqrt(10.0 / 3)) < 1e-12, "%g", n->std);
  cr_assert(n->q25 == 1.75 && n->q50 == 3 && n->q75 == 4.25, "%g %g %g", n->q25, n->q50, n->q75);
  cr_assert(n->quartiles_exact);
  cr_assert_not(c->numeric);
  cr_assert_eq(c->missing, 1);
  cr_assert_eq(c->distinct, 2);
  cr_assert_eq(c->ntop, 2);
  cr_assert_str_eq(c->top[0], "a");
  cr_assert_eq(c->top_count[0], 3);
  cr_assert_str_eq(c->top[1], "b");
  cr_assert_str_eq(m->name, "mixed col");
  cr_assert_not(m->numeric);
  cr_assert_eq(m->numbers, 3);
  cr_assert_str_eq(m->first_word, "x2");
  cr_assert(m->first_word_line == 3 && m->first_word_col == 5, "%lld:%lld", (long long)m->first_word_line,
            (long long)m->first_word_col);
  cr_assert(y->numeric && y->integral && y->max == 2);
  rt_inspect_free(&r);
}

/* More distinct values than are tracked, and more numbers than the quartile sample holds:
 * the report says so, and the estimates stay close. */
Test(inspect, large_columns_stay_bounded) {
  size_t cap = 30000 * 16, len = 0;
  char *text = malloc(cap);
  len += (size_t)snprintf(text, cap, "id,v\n");
  for (int i = 0; i < 30000; i++) len += (size_t)snprintf(text + len, cap - len, "k%d,%d\n", i, i % 1000);
  write_file(text);
  free(text);
  rt_inspect_report r;
  cr_assert_eq(rt_inspect_csv(path, &r), 0, "%s", dlc_last_error());
  unlink(path);
  cr_assert(r.cols[0].distinct_capped);
  cr_assert_eq(r.cols[0].distinct, RT_INSPECT_MAX_DISTINCT);
  cr_assert_not(r.cols[1].distinct_capped);
  cr_assert_eq(r.cols[1].distinct, 1000);
  cr_assert_eq(r.cols[1].top_count[0], 30);
  cr_assert_not(r.cols[1].quartiles_exact);
  cr_assert(fabs(r.cols[1].q50 - 499.5) < 25, "median estimate %g", r.cols[1].q50);
  cr_assert(fabs(r.cols[1].mean - 499.5) < 1e-9);
  rt_inspect_free(&r);
}

/* Numbers beyond f32's range are summarised as doubles, quartiles included. */
Test(inspect, quartiles_beyond_f32_range) {
  write_file("a,b,c\n1e39,1e300,-1e308\n4,1e300,1e308\n7,1e308,-1e308\n1,1,1e308\n");
  rt_inspect_report r;
  cr_assert_eq(rt_inspect_csv(path, &r), 0, "%s", dlc_last_error());
  unlink(path);
  const rt_inspect_column *a = &r.cols[0], *b = &r.cols[1], *c = &r.cols[2];
  cr_assert(a->q25 == 3.25 && a->q50 == 5.5, "%g %g", a->q25, a->q50);
  cr_assert(fabs(a->q75 / 2.5e38 - 1) < 1e-12, "%g", a->q75);
  cr_assert(fabs(b->q25 / 7.5e299 - 1) < 1e-12 && b->q50 == 1e300, "%g %g", b->q25, b->q50);
  cr_assert(fabs(b->q75 / (0.75 * 1e300 + 0.25 * 1e308) - 1) < 1e-12, "%g", b->q75);
  /* halfway between -1e308 and 1e308, whose difference is beyond a double's range */
  cr_assert(c->q50 == 0, "%g", c->q50);
  rt_inspect_free(&r);
}

Test(inspect, bad_files_are_located) {
  write_file("a,b\n1,2\n3\n");
  rt_inspect_report r;
  cr_assert_neq(rt_inspect_csv(path, &r), 0);
  cr_assert(strstr(dlc_last_error(), ":3:2: row has 1 field but the header has 2 columns"), "%s", dlc_last_error());
  unlink(path);
  write_file("");
  cr_assert_neq(rt_inspect_csv(path, &r), 0);
  cr_assert(strstr(dlc_last_error(), "the file is empty"), "%s", dlc_last_error());
  unlink(path);
  write_file("\na,b,y\n\n");
  cr_assert_neq(rt_inspect_csv(path, &r), 0);
  cr_assert(strstr(dlc_last_error(), ": no data rows after the header (line 2)"), "%s", dlc_last_error());
  unlink(path);
}

/* dlc train refuses a name the header has twice once a model names it, and the suggestion
 * names every column that holds a value. */
Test(inspect, duplicate_names_are_located) {
  rt_inspect_report r;
  write_file("a,b,a,y,b\n1,2,3,4,5\n");
  cr_assert_neq(rt_inspect_csv(path, &r), 0);
  cr_assert(strstr(dlc_last_error(), ":1:5: column \"a\" appears twice in the header (columns 1 and 3)"), "%s",
            dlc_last_error());
  unlink(path);
  write_file("a,,y,\n1,2,3,\n");
  cr_assert_neq(rt_inspect_csv(path, &r), 0);
  cr_assert(strstr(dlc_last_error(), ":1:6: column \"\" appears twice in the header (columns 2 and 4)"), "%s",
            dlc_last_error());
  unlink(path);
  /* Commas at the end of every line: columns with neither names nor values, left out. */
  write_file("a,y,,\n1,2,,\n");
  cr_assert_eq(rt_inspect_csv(path, &r), 0, "%s", dlc_last_error());
  unlink(path);
  rt_inspect_free(&r);
}

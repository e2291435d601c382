/* dlc inspect: a CSV file's columns at a glance (what pandas' describe() shows), then
 * the model lines that would read it, ready to paste: the input's width after one-hot
 * encoding, the label, and a data source with the preparation the data need. */
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "rt_prep.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: dlc inspect FILE.csv [--label COLUMN]\n"
          "Summarises every column in one pass (type, missing values, statistics or the most\n"
          "common values) and suggests the model's input, label and data declaration.\n"
          "The label is --label, else the last column (one with no name and no values passed over).\n");
}

/* A column as the model language writes it: bare when it is a plain name. */
static void put_column(FILE *out, const char *name) {
  int bare = isalpha((unsigned char)name[0]) || name[0] == '_';
  for (const char *p = name; *p && bare; p++) bare = isalnum((unsigned char)*p) || *p == '_';
  if (bare) {
    fputs(name, out);
    return;
  }
  fputc('"', out);
  for (const char *p = name; *p; p++) {
    if (*p == '"' || *p == '\\') fputc('\\', out);
    fputc(*p, out);
  }
  fputc('"', out);
}

/* A name or value as the tables, comments and notes show it: cut as dlc train's errors cut
 * it (the data line keeps names whole: they must match the header). Returned in a struct,
 * so that each call in one printf has its own text, alive to the end of the statement. */
typedef struct {
  char text[64];
} shown_text;

static shown_text show(const char *s) {
  shown_text t;
  rt_show_text(s, strlen(s), t.text, sizeof t.text);
  return t;
}

static void num(FILE *out, double v) {
  if (isnan(v))
    fprintf(out, " %10s", "-");
  else
    fprintf(out, " %10.6g", v);
}

static int name_width(const rt_inspect_report *r) {
  int w = 8;
  for (int c = 0; c < r->ncols; c++) {
    int n = (int)strlen(show(r->cols[c].name).text);
    if (n > w) w = n;
  }
  return w;
}

static void print_tables(FILE *out, const rt_inspect_report *r, int label) {
  int w = name_width(r), any = 0;
  for (int c = 0; c < r->ncols; c++) {
    const rt_inspect_column *col = &r->cols[c];
    if (!col->numeric) continue;
    if (!any++)
      fprintf(out, "\nnumeric columns\n  %-*s %8s %8s %10s %10s %10s %10s %10s %10s %10s\n", w, "", "count", "missing",
              "mean", "std", "min", "25%", "50%", "75%", "max");
    fprintf(out, "  %-*s %8lld %8lld", w, show(col->name).text, (long long)col->count,
            (long long)col->missing);
    num(out, col->mean), num(out, col->std), num(out, col->min), num(out, col->q25), num(out, col->q50);
    num(out, col->q75), num(out, col->max);
    fprintf(out, "%s%s\n", col->quartiles_exact ? "" : "  (quartiles from a sample)", c == label ? "  (label)" : "");
  }
  any = 0;
  for (int c = 0; c < r->ncols; c++) {
    const rt_inspect_column *col = &r->cols[c];
    if (col->numeric) continue;
    if (!any++)
      fprintf(out, "\ncategorical columns\n  %-*s %8s %8s %9s  most common\n", w, "", "count", "missing", "distinct");
    char distinct[32];
    if (col->distinct_capped)
      snprintf(distinct, sizeof distinct, ">%d", RT_INSPECT_MAX_DISTINCT);
    else
      snprintf(distinct, sizeof distinct, "%lld", (long long)col->distinct);
    fprintf(out, "  %-*s %8lld %8lld %9s  ", w, show(col->name).text, (long long)col->count,
            (long long)col->missing, distinct);
    for (int k = 0; k < col->ntop; k++)
      fprintf(out, "%s%s (%lld)", k ? ", " : "", show(col->top[k]).text, (long long)col->top_count[k]);
    if (col->ntop < col->distinct) fputs(", ...", out);
    if (c == label) fputs("  (label)", out);
    fputc('\n', out);
    if (col->numbers > 0)
      fprintf(out, "  %-*s %lld of its values are numbers; the first that is not: \"%s\" at line %lld, column %lld\n", w,
              "", (long long)col->numbers, show(col->first_word).text, (long long)col->first_word_line,
              (long long)col->first_word_col);
  }
}

static int by_bytes(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A column too varied to one-hot encode usefully (an identifier, free text). */
static int too_many_categories(const rt_inspect_column *col) { return col->distinct_capped || col->distinct > 100; }

/* dlc train reads numbers as f32 and refuses one that is not finite there. */
static int beyond_f32(const rt_inspect_column *col) {
  return col->numeric && !(isfinite((float)col->min) && isfinite((float)col->max));
}

/* What a comma at the end of every line makes: a last column with no name and no value. */
static int unnamed_and_empty(const rt_inspect_column *col) { return !col->name[0] && col->count == 0; }

/* The last column, unless it is such a column. */
static int default_label(const rt_inspect_report *r) {
  int c = r->ncols - 1;
  while (c > 0 && unnamed_and_empty(&r->cols[c])) c--;
  return c;
}

/* A column the suggestion leaves out (and a note says why). */
static int left_out(const rt_inspect_column *col) {
  return col->count == 0 || (!col->numeric && too_many_categories(col)) || beyond_f32(col);
}

/* Length of the run of columns from c on named prefix<k>, prefix<k+1>, ... (1: no run). */
static int numbered_run(const rt_inspect_report *r, int c, int label) {
  const char *a = r->cols[c].name;
  size_t n = strlen(a), p = n;
  while (p > 0 && isdigit((unsigned char)a[p - 1])) p--;
  if (p == n || p == 0 || n - p > 9) return 1;
  long k = strtol(a + p, NULL, 10);
  int run = 1;
  for (int d = c + 1; d < r->ncols && d != label; d++, run++) {
    const char *b = r->cols[d].name;
    char want[64];
    snprintf(want, sizeof want, "%ld", k + run);
    if (strncmp(a, b, p) || strcmp(b + p, want) || r->cols[d].numeric != r->cols[c].numeric || left_out(&r->cols[d]))
      break;
  }
  return run;
}

/* Few non-negative integers: class labels, or class codes if they leave numbers out. */
static int few_integers(const rt_inspect_column *y) {
  return y->numeric && y->integral && y->min >= 0 && y->max <= INT32_MAX && !y->distinct_capped &&
         y->distinct <= 20;
}

/* Labels a classifier takes as they are: class indices 0..K-1, K at most 20. */
static int is_class_index(const rt_inspect_column *y) { return few_integers(y) && y->max < 20; }

/* What the suggestion cannot do for the label, and the columns it leaves out, with why. */
static void print_notes(FILE *out, const rt_inspect_report *r, int label) {
  const rt_inspect_column *y = &r->cols[label];
  if (y->missing)
    fprintf(out, "\nnote: %lld row%s no label (column \"%s\"); dlc refuses them: remove %s first\n",
            (long long)y->missing, y->missing == 1 ? " has" : "s have", show(y->name).text,
            y->missing == 1 ? "it" : "them");
  if (!y->numeric && y->count)
    fprintf(out, "note: the label column \"%s\" holds words (\"%s\" at line %lld); dlc needs numbers or class "
                 "indices there\n", show(y->name).text, show(y->first_word).text, (long long)y->first_word_line);
  if (few_integers(y) && !is_class_index(y))
    fprintf(out, "note: the label column \"%s\" has %lld integer values from %.0f to %.0f: as classes they would "
                 "need a model of %.0f classes, most never seen; renumber them 0..%lld for a classifier\n",
            show(y->name).text, (long long)y->distinct, y->min, y->max, y->max + 1, (long long)y->distinct - 1);
  if (beyond_f32(y))
    fprintf(out, "note: the label column \"%s\" has numbers beyond f32's range (%g to %g), which dlc train refuses "
                 "(\"out of range for f32\"); rescale it first\n", show(y->name).text, y->min, y->max);
  for (int c = 0; c < r->ncols; c++) {
    const rt_inspect_column *col = &r->cols[c];
    if (c == label) continue;
    if (unnamed_and_empty(col))
      fprintf(out, "note: column %d has no name and no values (a comma at the end of every line?) and is left out; "
                   "dlc train skips it while the model lists its features, as these lines do\n", c + 1);
    else if (col->count == 0)
      fprintf(out, "note: column \"%s\" has no values and is left out\n", show(col->name).text);
    else if (!col->numeric && too_many_categories(col))
      fprintf(out, "note: column \"%s\" has %s%lld distinct values (an identifier or free text?) and is left out\n",
              show(col->name).text, col->distinct_capped ? "more than " : "", (long long)col->distinct);
    else if (beyond_f32(col))
      fprintf(out, "note: column \"%s\" has numbers beyond f32's range (%g to %g), which dlc train refuses (\"out of "
                   "range for f32\"), and is left out; rescale it to use it\n", show(col->name).text, col->min,
              col->max);
  }
}

static void suggest(FILE *out, const rt_inspect_report *r, int label, const char *path) {
  const rt_inspect_column *y = &r->cols[label];
  int64_t width = 0;
  int ncat = 0, fill_numeric = 0, dummy_na = 0, scale = 0;
  for (int c = 0; c < r->ncols; c++) {
    const rt_inspect_column *col = &r->cols[c];
    if (c == label || left_out(col)) continue;
    if (col->numeric) {
      width++;
      fill_numeric |= col->missing > 0;
      scale |= col->max - col->min > 10;
    } else {
      ncat++;
      width += col->distinct + (col->missing > 0);
      dummy_na |= col->missing > 0;
    }
  }
  if (width == 0) { /* the frontend refuses an input of width 0 and `features = []` */
    fputs("\nno model lines suggested: no column is left for the input\n", out);
    print_notes(out, r, label);
    return;
  }
  fprintf(out, "\nsuggested model lines (the path is read from the model file's folder; categories\n"
               "are counted over the whole file: if the training split has fewer, `dlc train`\n"
               "names the width it needs):\n\n");
  /* The layout dlc train will make: features in order, categories sorted, "=nan" last. */
  char input[64];
  snprintf(input, sizeof input, "input  x: f32[batch, %lld]", (long long)width);
  fprintf(out, "  %-26s #", input);
  int shown = 0;
  for (int c = 0; c < r->ncols && shown < 8; c++) {
    const rt_inspect_column *col = &r->cols[c];
    if (c == label || left_out(col)) continue;
    if (col->numeric) {
      fprintf(out, "%s %s", shown++ ? "," : "", show(col->name).text);
      continue;
    }
    if (col->ntop < col->distinct) {
      fprintf(out, "%s %s=... (%lld columns)", shown++ ? "," : "", show(col->name).text, (long long)col->distinct);
    } else {
      const char *cats[RT_INSPECT_TOP];
      for (int k = 0; k < col->ntop; k++) cats[k] = col->top[k];
      qsort(cats, (size_t)col->ntop, sizeof *cats, by_bytes);
      for (int k = 0; k < col->ntop; k++)
        fprintf(out, "%s %s=%s", shown++ ? "," : "", show(col->name).text, show(cats[k]).text);
    }
    if (col->missing) fprintf(out, "%s %s=nan", shown++ ? "," : "", show(col->name).text);
  }
  fprintf(out, "%s\n", shown < width ? ", ..." : "");
  if (is_class_index(y))
    fprintf(out, "  %-26s # %s: classes 0..%.0f (or f32[batch, 1] for a regression)\n", "label  y: i32[batch]",
            show(y->name).text, y->max);
  else
    fprintf(out, "  %-26s # %s\n", "label  y: f32[batch, 1]", show(y->name).text);
  fprintf(out, "  data csv(");
  put_column(out, path); /* a string: the same quoting */
  fputs(", features = [", out);
  int first = 1;
  for (int c = 0; c < r->ncols; c++) {
    const rt_inspect_column *col = &r->cols[c];
    if (c == label || left_out(col)) continue;
    fputs(first ? "" : ", ", out);
    put_column(out, col->name);
    first = 0;
    int run = col->numeric ? numbered_run(r, c, label) : 1;
    if (run >= 3) { /* pixel0..pixel63 */
      fputs("..", out);
      put_column(out, r->cols[c + run - 1].name);
      c += run - 1;
    }
  }
  fputs("], label = ", out);
  put_column(out, y->name);
  if (fill_numeric) fputs(",\n           missing = mean", out);
  if (ncat) {
    fputs(",\n           categorical = [", out);
    first = 1;
    for (int c = 0; c < r->ncols; c++) {
      const rt_inspect_column *col = &r->cols[c];
      if (c == label || col->numeric || left_out(col)) continue;
      fputs(first ? "" : ", ", out);
      put_column(out, col->name);
      first = 0;
    }
    fputs("]", out);
    if (dummy_na) fputs(", dummy_na = true", out);
  }
  if (scale) fputs(",\n           standardize = true", out);
  fputs(")\n", out);
  print_notes(out, r, label);
}

int cmd_inspect(int argc, char **argv) {
  const char *path = NULL, *label_name = NULL;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else if (drv_option(argc, argv, &i, "--label", &v)) {
      label_name = v;
    } else if (!drv_input("dlc inspect", argv[i], &path, usage)) {
      return 2;
    }
  }
  if (!path) {
    usage(stderr);
    return 2;
  }
  rt_inspect_report r;
  if (rt_inspect_csv(path, &r)) {
    fprintf(stderr, "dlc inspect: error: %s\n", dlc_last_error());
    return 1;
  }
  int label = default_label(&r);
  if (label_name) {
    label = -1;
    char **names = malloc((size_t)r.ncols * sizeof *names);
    for (int c = 0; names && c < r.ncols; c++) {
      names[c] = r.cols[c].name;
      if (!strcmp(r.cols[c].name, label_name)) label = c;
    }
    if (label < 0 && names) {
      const char *hint = rt_closest_name(label_name, (const char *const *)names, r.ncols);
      fprintf(stderr, "dlc inspect: error: %s: no column named \"%s\"%s%s%s\n", path, label_name,
              hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
    }
    free(names);
    if (label < 0) {
      rt_inspect_free(&r);
      return 1;
    }
  }
  printf("%s: %lld rows, %d columns\n", path, (long long)r.rows, r.ncols);
  print_tables(stdout, &r, label);
  if (r.ncols >= 2) suggest(stdout, &r, label, path);
  rt_inspect_free(&r);
  return 0;
}

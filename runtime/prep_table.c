/* Reading a CSV file for the preparation: the selected columns as numbers (NAN where a
 * value is missing) or, for categorical columns, as words interned per column, plus the
 * line of every row and the column of every categorical field, so that what is found
 * only later (a category the training data never had) is still reported where it is.
 *
 * What needs no training data is checked here, in file order: a word in a numeric
 * column, a missing label, a missing feature under the `error` policy, ragged rows,
 * columns the header lacks. The file is streamed (rt_csv_reader_open). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep_impl.h"

void rt_table_free(rt_table *t) {
  if (!t) return;
  for (int c = 0; c < t->ncols; c++) {
    rt_table_column *col = &t->cols[c];
    free(col->name);
    free(col->num);
    free(col->word);
    free(col->col);
    for (int32_t w = 0; w < col->nwords; w++) free(col->words[w]);
    free(col->words);
    free(col->index);
  }
  free(t->cols);
  free(t->line);
  free(t->y);
  free(t->label);
  free(t->path);
  memset(t, 0, sizeof *t);
}

void prep_no_column(const char *file, int64_t line, const char *what, const char *name, char *const *names,
                    int n) {
  char list[400];
  size_t used = 0;
  list[0] = '\0';
  for (int c = 0; c < n && used < sizeof list; c++) {
    int k = snprintf(list + used, sizeof list - used, "%s%s", c ? ", " : "", names[c]);
    if (k < 0) break;
    used += (size_t)k;
  }
  if (used >= sizeof list) strcpy(list + sizeof list - 5, "...");
  const char *hint = rt_closest_name(name, (const char *const *)names, n);
  if (hint)
    rt_set_error("%s:%lld: no column named \"%s\" (%s); did you mean \"%s\"? (the header has: %s)", file,
                 (long long)line, name, what, hint, list);
  else
    rt_set_error("%s:%lld: no column named \"%s\" (%s; the header has: %s)", file, (long long)line, name, what,
                 list);
}

/* Index of the header column called name, or -1 with the error set. */
static int find_column(const char *file, int64_t line, char **names, int n, const char *name, const char *what) {
  int found = -1;
  for (int c = 0; c < n; c++) {
    if (strcmp(names[c], name)) continue;
    if (found >= 0) {
      rt_set_error("%s:%lld: column \"%s\" appears twice in the header (columns %d and %d)", file, (long long)line,
                   name, found + 1, c + 1);
      return -1;
    }
    found = c;
  }
  if (found < 0) prep_no_column(file, line, what, name, names, n);
  return found;
}

/* ---- interning categories --------------------------------------------------------------- */

static uint32_t hash_bytes(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static int regrow_index(rt_table_column *col, int32_t cap) {
  int32_t *index = malloc((size_t)cap * sizeof *index);
  if (!index) return prep_oom();
  for (int32_t i = 0; i < cap; i++) index[i] = -1;
  for (int32_t w = 0; w < col->nwords; w++) {
    uint32_t h = hash_bytes(col->words[w], strlen(col->words[w])) & (uint32_t)(cap - 1);
    while (index[h] >= 0) h = (h + 1) & (uint32_t)(cap - 1);
    index[h] = w;
  }
  free(col->index);
  col->index = index;
  col->index_cap = cap;
  return 0;
}

/* The word's index in col->words, added if new; -1 when out of memory. */
static int32_t intern(rt_table_column *col, const char *s, size_t n) {
  if (2 * (col->nwords + 1) > col->index_cap && regrow_index(col, col->index_cap ? col->index_cap * 2 : 16))
    return -1;
  int32_t *index = col->index;
  uint32_t mask = (uint32_t)(col->index_cap - 1), h = hash_bytes(s, n) & mask;
  for (; index[h] >= 0; h = (h + 1) & mask) {
    const char *w = col->words[index[h]];
    if (strlen(w) == n && !memcmp(w, s, n)) return index[h];
  }
  if ((col->nwords & (col->nwords - 1)) == 0) { /* capacity doubles at powers of two */
    char **words = realloc(col->words, (size_t)(col->nwords ? 2 * col->nwords : 1) * sizeof *words);
    if (!words) return prep_oom();
    col->words = words;
  }
  char *w = malloc(n + 1);
  if (!w) return prep_oom();
  memcpy(w, s, n);
  w[n] = '\0';
  col->words[col->nwords] = w;
  index[h] = col->nwords;
  return col->nwords++;
}

/* ---- rows ------------------------------------------------------------------------------------ */

static int grow_rows(rt_table *t) {
  int64_t cap = t->cap ? t->cap * 2 : 256;
  int64_t *line = realloc(t->line, (size_t)cap * sizeof *line);
  if (!line) return prep_oom();
  t->line = line;
  for (int c = 0; c < t->ncols; c++) {
    rt_table_column *col = &t->cols[c];
    if (col->categorical) {
      int32_t *w = realloc(col->word, (size_t)cap * sizeof *w);
      if (w) col->word = w;
      int32_t *k = w ? realloc(col->col, (size_t)cap * sizeof *k) : NULL;
      if (!k) return prep_oom();
      col->col = k;
    } else {
      float *v = realloc(col->num, (size_t)cap * sizeof *v);
      if (!v) return prep_oom();
      col->num = v;
    }
  }
  if (t->label) {
    void *y = realloc(t->y, (size_t)cap * 4);
    if (!y) return prep_oom();
    t->y = y;
  }
  t->cap = cap;
  return 0;
}

typedef struct {
  int field;               /* index in the record */
  int missing_ok;          /* a missing value is kept (policy other than error, or dummy_na) */
} source;

static int read_feature(const rt_csv_reader *r, rt_table *t, int c, const source *src, int64_t row) {
  const rt_csv_field *f = &r->fields[src->field];
  rt_table_column *col = &t->cols[c];
  char shown[64];
  if (rt_csv_is_missing(f)) {
    if (!src->missing_ok) {
      rt_set_error("%s:%lld:%lld: missing value (%s) in column \"%s\", whose missing-value policy is error; "
                   "fill such values with missing = mean, median, mode or constant(v)%s",
                   r->name, (long long)f->line, (long long)f->col, f->len ? rt_csv_show(f, shown, sizeof shown) : "empty",
                   col->name, col->categorical ? ", or give them a column of their own with dummy_na = true" : "");
      return -1;
    }
    if (col->categorical) {
      col->word[row] = -1;
      col->col[row] = (int32_t)f->col;
    } else {
      col->num[row] = NAN;
    }
    return 0;
  }
  if (col->categorical) {
    char *u = f->quoted ? rt_csv_unquote(f) : NULL;
    if (f->quoted && !u) return prep_oom();
    int32_t w = intern(col, u ? u : f->text, u ? strlen(u) : f->len);
    free(u);
    if (w < 0) return -1;
    col->word[row] = w;
    col->col[row] = f->col > INT32_MAX ? INT32_MAX : (int32_t)f->col;
    return 0;
  }
  double v;
  if (rt_parse_number(f->text, f->len, &v) != 0) {
    rt_set_error("%s:%lld:%lld: %s is not a number (column \"%s\"); if the column holds categories, declare "
                 "it with categorical = [%s]",
                 r->name, (long long)f->line, (long long)f->col, rt_csv_show(f, shown, sizeof shown), col->name,
                 col->name);
    return -1;
  }
  float fv = (float)v;
  if (!isfinite(fv)) {
    rt_set_error("%s:%lld:%lld: %s is out of range for f32 (column \"%s\")", r->name, (long long)f->line,
                 (long long)f->col, rt_csv_show(f, shown, sizeof shown), col->name);
    return -1;
  }
  col->num[row] = fv;
  return 0;
}

static int read_label(const rt_csv_reader *r, rt_table *t, int field, int64_t row) {
  const rt_csv_field *f = &r->fields[field];
  char shown[64];
  double v;
  if (rt_csv_is_missing(f)) {
    rt_set_error("%s:%lld:%lld: missing label (%s) in column \"%s\": every training row needs its label, "
                 "and no policy fills one",
                 r->name, (long long)f->line, (long long)f->col, f->len ? rt_csv_show(f, shown, sizeof shown) : "empty",
                 t->label);
    return -1;
  }
  if (rt_parse_number(f->text, f->len, &v) != 0) {
    rt_set_error("%s:%lld:%lld: %s is not a number (label column \"%s\")", r->name, (long long)f->line,
                 (long long)f->col, rt_csv_show(f, shown, sizeof shown), t->label);
    return -1;
  }
  if (t->label_dtype == DLC_I32) {
    if (!(v >= 0 && v <= 2147483647.0 && v == floor(v))) {
      rt_set_error("%s:%lld:%lld: class label %s is not a non-negative integer (column \"%s\")", r->name,
                   (long long)f->line, (long long)f->col, rt_csv_show(f, shown, sizeof shown), t->label);
      return -1;
    }
    ((int32_t *)t->y)[row] = (int32_t)v;
    return 0;
  }
  float fv = (float)v;
  if (!isfinite(fv)) {
    rt_set_error("%s:%lld:%lld: %s is out of range for f32 (column \"%s\")", r->name, (long long)f->line,
                 (long long)f->col, rt_csv_show(f, shown, sizeof shown), t->label);
    return -1;
  }
  ((float *)t->y)[row] = fv;
  return 0;
}

/* The names of the feature columns: the fitted ones, the requested ones, or every
 * column but the label. Checks that the settings name features. */
static int choose_features(const char *path, int64_t hline, char **names, int ncols, int label_col,
                           const rt_prep *p, const rt_csv_options *opt, rt_table *t, source *src) {
  int nf = p->fitted ? p->ncols : opt->features ? opt->nfeatures : ncols - (label_col >= 0);
  if (p->fitted && opt->features) {
    int same = opt->nfeatures == p->ncols;
    for (int j = 0; same && j < p->ncols; j++) same = !strcmp(opt->features[j], p->cols[j].name);
    if (!same) {
      rt_set_error("%s: the data preparation was learned on other feature columns than the data source names "
                   "(first: \"%s\")", path, p->ncols ? p->cols[0].name : "none");
      return -1;
    }
  }
  if (!(t->cols = calloc((size_t)(nf ? nf : 1), sizeof *t->cols))) return prep_oom();
  t->ncols = nf;
  for (int j = 0, c = 0; j < nf; j++) {
    const char *want = p->fitted ? p->cols[j].name : opt->features ? opt->features[j] : NULL;
    int at;
    if (want) {
      if ((at = find_column(path, hline, names, ncols, want, "a feature")) < 0) return -1;
    } else {
      if (c == label_col) c++;
      at = c++;
      /* A fitted preparation finds its columns by name: a name the header has twice is
       * refused here, in training, not only later in prediction. */
      if (find_column(path, hline, names, ncols, names[at], "a feature") < 0) return -1;
    }
    rt_table_column *col = &t->cols[j];
    if (!(col->name = prep_strdup(names[at]))) return prep_oom();
    src[j].field = at;
    if (p->fitted) {
      col->categorical = p->cols[j].categorical;
      src[j].missing_ok = p->cols[j].policy.kind != RT_MISSING_ERROR || p->cols[j].na_indicator;
    } else {
      col->categorical = prep_is_categorical(p, col->name);
      src[j].missing_ok = prep_policy_for(p, col->name)->kind != RT_MISSING_ERROR || (col->categorical && p->dummy_na);
    }
  }
  if (p->fitted) return 0;
  /* Every column a setting names must be a feature. */
  char **features = malloc((size_t)(nf > 0 ? nf : 1) * sizeof *features);
  if (!features) return prep_oom();
  for (int j = 0; j < nf; j++) features[j] = t->cols[j].name;
  const char *bad = NULL, *what = NULL;
  for (int i = 0; i < p->ncat && !bad; i++) {
    int ok = 0;
    for (int j = 0; j < nf && !ok; j++) ok = !strcmp(p->cat_cols[i], features[j]);
    if (!ok) bad = p->cat_cols[i], what = "categorical";
  }
  for (int i = 0; i < p->npol && !bad; i++) {
    int ok = 0;
    for (int j = 0; j < nf && !ok; j++) ok = !strcmp(p->pol_cols[i], features[j]);
    if (!ok) bad = p->pol_cols[i], what = "missing = fill(...)";
  }
  if (bad) {
    int in_header = 0;
    for (int c = 0; c < ncols && !in_header; c++) in_header = !strcmp(names[c], bad);
    if (in_header)
      rt_set_error("%s: column \"%s\" (named in %s) is not one of the features", path, bad, what);
    else
      prep_no_column(path, hline, what, bad, names, ncols);
  }
  free(features);
  return bad ? -1 : 0;
}

int rt_table_read(const char *path, const rt_prep *p, const rt_csv_options *opt, rt_table *out) {
  memset(out, 0, sizeof *out);
  if (opt->label && opt->label_dtype != DLC_F32 && opt->label_dtype != DLC_I32) {
    rt_set_error("%s: labels must be read as f32 or i32, not %s", path, rt_dtype_name(opt->label_dtype));
    return -1;
  }
  rt_csv_reader r;
  if (rt_csv_reader_open(&r, path)) return -1;
  int status = -1, ncols = 0, label_col = -1, rc;
  char **names = NULL;
  source *src = NULL;
  if (!(out->path = prep_strdup(path))) goto oom;
  out->label_dtype = opt->label ? opt->label_dtype : DLC_F32;
  if ((rc = rt_csv_next(&r)) <= 0) {
    if (rc == 0) rt_set_error("%s: the file is empty (expected a header row of column names)", path);
    goto done;
  }
  int64_t hline = r.rec_line;
  ncols = r.nfields;
  if (!(names = calloc((size_t)ncols, sizeof *names))) goto oom;
  for (int c = 0; c < ncols; c++)
    if (!(names[c] = rt_csv_unquote(&r.fields[c]))) goto oom;
  if (opt->label) {
    if ((label_col = find_column(path, hline, names, ncols, opt->label, "the label")) < 0) goto done;
    if (!(out->label = prep_strdup(opt->label))) goto oom;
  }
  int nf = p->fitted ? p->ncols : opt->features ? opt->nfeatures : ncols - (label_col >= 0);
  if (!(src = calloc((size_t)(nf ? nf : 1), sizeof *src))) goto oom;
  if (choose_features(path, hline, names, ncols, label_col, p, opt, out, src)) goto done;

  while ((rc = rt_csv_next(&r)) > 0) {
    if (r.nfields != ncols) {
      if (r.nfields < ncols)
        rt_set_error("%s:%lld:%lld: row has %d field%s but the header has %d columns", path, (long long)r.rec_line,
                     (long long)r.end_col, r.nfields, r.nfields == 1 ? "" : "s", ncols);
      else
        rt_set_error("%s:%lld:%lld: row has %d fields but the header has %d columns (extra field %s)", path,
                     (long long)r.fields[ncols].line, (long long)r.fields[ncols].col, r.nfields, ncols,
                     rt_csv_show(&r.fields[ncols], (char[64]){0}, 64));
      goto done;
    }
    if (out->rows == out->cap && grow_rows(out)) goto done;
    int64_t row = out->rows;
    out->line[row] = r.rec_line;
    for (int j = 0; j < out->ncols; j++)
      if (read_feature(&r, out, j, &src[j], row)) goto done;
    if (label_col >= 0 && read_label(&r, out, label_col, row)) goto done;
    out->rows++;
  }
  if (rc < 0) goto done;
  if (out->rows == 0) {
    rt_set_error("%s: no data rows after the header (line %lld)", path, (long long)hline);
    goto done;
  }
  status = 0;
  goto done;
oom:
  prep_oom();
done:
  for (int c = 0; names && c < ncols; c++) free(names[c]);
  free(names);
  free(src);
  rt_csv_reader_close(&r);
  if (status) rt_table_free(out);
  return status;
}

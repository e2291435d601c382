/* Strict CSV reading into an f32 feature matrix and a label vector.
 *
 * The file is read whole and split in one pass by the shared tokenizer (csv_record.c);
 * each record's fields are spans into the buffer, and each selected column has a
 * converter (a feature value, a float label, a class label) that turns its span into a
 * number or an error naming file, line, column and text. Nothing is ever read as a
 * silent zero. Missing values and categorical columns are the data preparation's
 * (prep.c), which reads the same records.
 *
 * Accepted: a header row; ',' separators; LF, CRLF or CR line ends; spaces around
 * fields; quoted fields ("..." with "" for a quote, newlines allowed inside); blank
 * lines (skipped); a UTF-8 byte-order mark. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

/* ---- converters: one per kind of selected column -------------------------------- */

enum { CONV_FEATURE, CONV_LABEL_F32, CONV_LABEL_I32 };

typedef struct {
  int kind;
  int col;          /* index in the record */
  const char *name; /* column name, for messages */
  void *dst;        /* x (stride nfeatures, offset j) or y */
  int64_t stride, offset;
} csv_target;

static int convert_field(const rt_csv_reader *r, const csv_target *t, const rt_csv_field *f, int64_t row,
                         int32_t *max_label) {
  char shown[64];
  double v;
  if (rt_csv_is_missing(f)) { /* an empty field, NA or NaN: what the preparation fills */
    rt_set_error("%s:%lld:%lld: missing value (%s) in column \"%s\": this model reads plain numbers; fill such "
                 "values with missing = mean, median, mode or constant(v) in its data line",
                 r->name, (long long)f->line, (long long)f->col, f->len ? rt_csv_show(f, shown, sizeof shown) : "empty",
                 t->name);
    return -1;
  }
  if (rt_parse_number(f->text, f->len, &v) != 0) {
    rt_set_error("%s:%lld:%lld: %s is not a number (column \"%s\")", r->name, (long long)f->line,
                 (long long)f->col, rt_csv_show(f, shown, sizeof shown), t->name);
    return -1;
  }
  if (t->kind == CONV_LABEL_I32) {
    if (!(v >= 0 && v <= 2147483647.0 && v == floor(v))) {
      rt_set_error("%s:%lld:%lld: class label %s is not %s (column \"%s\")", r->name, (long long)f->line,
                   (long long)f->col, rt_csv_show(f, shown, sizeof shown),
                   v >= 0 && v == floor(v) ? "a class index below 2^31" : "a non-negative integer", t->name);
      return -1;
    }
    int32_t k = (int32_t)v;
    ((int32_t *)t->dst)[row] = k;
    if (k > *max_label) *max_label = k;
    return 0;
  }
  float fv = (float)v;
  if (!isfinite(fv)) {
    rt_set_error("%s:%lld:%lld: %s is out of range for f32 (column \"%s\")", r->name, (long long)f->line,
                 (long long)f->col, rt_csv_show(f, shown, sizeof shown), t->name);
    return -1;
  }
  ((float *)t->dst)[row * t->stride + t->offset] = fv;
  return 0;
}

/* ---- column selection ----------------------------------------------------------- */

/* Index of the column called name; -1 (error set) if absent or ambiguous. */
static int find_column(const char *file, int64_t line, char **names, int ncols, const char *name) {
  int found = -1;
  for (int c = 0; c < ncols; c++) {
    if (strcmp(names[c], name) != 0) continue;
    if (found >= 0) {
      rt_set_error("%s:%lld: column \"%s\" appears twice in the header (columns %d and %d)", file,
                   (long long)line, name, found + 1, c + 1);
      return -1;
    }
    found = c;
  }
  if (found >= 0) return found;
  char list[400];
  size_t used = 0;
  list[0] = '\0';
  for (int c = 0; c < ncols && used < sizeof list; c++) {
    int n = snprintf(list + used, sizeof list - used, "%s%s", c ? ", " : "", names[c]);
    if (n < 0) break;
    used += (size_t)n;
  }
  if (used >= sizeof list) strcpy(list + sizeof list - 5, "...");
  const char *hint = rt_closest_name(name, (const char *const *)names, ncols);
  if (hint)
    rt_set_error("%s:%lld: no column named \"%s\"; did you mean \"%s\"? (the header has: %s)", file,
                 (long long)line, name, hint, list);
  else
    rt_set_error("%s:%lld: no column named \"%s\" (the header has: %s)", file, (long long)line, name, list);
  return -1;
}

void rt_csv_free(rt_csv_table *t) {
  if (!t) return;
  if (t->feature_names)
    for (int j = 0; j < t->nfeatures; j++) free(t->feature_names[j]);
  free(t->feature_names);
  free(t->x);
  free(t->y);
  memset(t, 0, sizeof *t);
}

int rt_csv_parse(const char *name, const char *data, size_t len, const rt_csv_options *opt,
                 rt_csv_table *out) {
  memset(out, 0, sizeof *out);
  if (opt->label && opt->label_dtype != DLC_F32 && opt->label_dtype != DLC_I32) {
    rt_set_error("%s: labels must be read as f32 or i32, not %s", name, rt_dtype_name(opt->label_dtype));
    return -1;
  }
  rt_csv_reader r;
  rt_csv_reader_init(&r, name, data, len);

  int status = -1;
  char **names = NULL;
  int ncols = 0;
  csv_target *targets = NULL;
  int rc = rt_csv_next(&r);
  if (rc <= 0) {
    if (rc == 0) rt_set_error("%s: the file is empty (expected a header row of column names)", name);
    goto done;
  }
  int64_t header_line = r.rec_line;
  ncols = r.nfields;
  names = calloc((size_t)ncols, sizeof *names);
  if (!names) goto oom;
  for (int c = 0; c < ncols; c++)
    if (!(names[c] = rt_csv_unquote(&r.fields[c]))) goto oom;

  /* Which columns go where. */
  int label_col = -1;
  if (opt->label && (label_col = find_column(name, header_line, names, ncols, opt->label)) < 0) goto done;
  int nf = opt->features ? opt->nfeatures : ncols - (label_col >= 0);
  out->nfeatures = nf;
  out->label_dtype = opt->label ? opt->label_dtype : DLC_F32;
  out->feature_names = calloc((size_t)(nf ? nf : 1), sizeof *out->feature_names);
  targets = calloc((size_t)nf + 1, sizeof *targets);
  if (!out->feature_names || !targets) goto oom;
  for (int j = 0, c = 0; j < nf; j++) {
    int col;
    if (opt->features) {
      if ((col = find_column(name, header_line, names, ncols, opt->features[j])) < 0) goto done;
    } else {
      if (c == label_col) c++;
      col = c++;
      /* A checkpoint records the features by name (dlc.features) and later files are read
       * by them, so a name the header has twice is refused here too. */
      if (find_column(name, header_line, names, ncols, names[col]) < 0) goto done;
    }
    targets[j] = (csv_target){.kind = CONV_FEATURE, .col = col, .name = names[col], .stride = nf, .offset = j};
    size_t n = strlen(names[col]) + 1;
    if (!(out->feature_names[j] = malloc(n))) goto oom;
    memcpy(out->feature_names[j], names[col], n);
  }
  int ntargets = nf;
  if (label_col >= 0)
    targets[ntargets++] = (csv_target){.kind = opt->label_dtype == DLC_I32 ? CONV_LABEL_I32 : CONV_LABEL_F32,
                                       .col = label_col, .name = names[label_col], .stride = 1};

  /* Records cannot outnumber the line ends left, plus a last line without one. */
  int64_t cap = 1;
  for (const char *q = r.p; (q = memchr(q, '\n', (size_t)(r.end - q))); q++) cap++;
  for (const char *q = r.p; (q = memchr(q, '\r', (size_t)(r.end - q))); q++) cap++;
  out->x = malloc((size_t)(cap * (nf ? nf : 1)) * sizeof(float));
  if (label_col >= 0) out->y = malloc((size_t)cap * 4);
  if (!out->x || (label_col >= 0 && !out->y)) goto oom;
  for (int j = 0; j < nf; j++) targets[j].dst = out->x;
  if (label_col >= 0) targets[nf].dst = out->y;

  int32_t max_label = -1;
  int64_t row = 0;
  while ((rc = rt_csv_next(&r)) > 0) {
    if (r.nfields != ncols) {
      if (r.nfields < ncols)
        rt_set_error("%s:%lld:%lld: row has %d field%s but the header has %d columns", name,
                     (long long)r.rec_line, (long long)r.end_col, r.nfields, r.nfields == 1 ? "" : "s", ncols);
      else
        rt_set_error("%s:%lld:%lld: row has %d fields but the header has %d columns (extra field %s)", name,
                     (long long)r.fields[ncols].line, (long long)r.fields[ncols].col, r.nfields, ncols,
                     rt_csv_show(&r.fields[ncols], (char[64]){0}, 64));
      goto done;
    }
    for (int t = 0; t < ntargets; t++)
      if (convert_field(&r, &targets[t], &r.fields[targets[t].col], row, &max_label) != 0) goto done;
    row++;
  }
  if (rc < 0) goto done;
  if (row == 0) {
    rt_set_error("%s: no data rows after the header (line %lld)", name, (long long)header_line);
    goto done;
  }
  out->rows = row;
  if (label_col >= 0 && opt->label_dtype == DLC_I32) out->nclasses = max_label + 1;
  status = 0;
  goto done;
oom:
  rt_set_error("%s: out of memory", name);
done:
  if (names)
    for (int c = 0; c < ncols; c++) free(names[c]);
  free(names);
  free(targets);
  rt_csv_reader_close(&r);
  if (status != 0) rt_csv_free(out);
  return status;
}

int rt_csv_read(const char *path, const rt_csv_options *opt, rt_csv_table *out) {
  char *data;
  size_t len;
  memset(out, 0, sizeof *out);
  if (rt_read_file(path, &data, &len) != 0) return -1;
  int rc = rt_csv_parse(path, data, len, opt, out);
  free(data);
  return rc;
}

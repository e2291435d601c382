/* A summary of a CSV file's columns, in the spirit of pandas' DataFrame.describe(): for
 * `dlc inspect`, before a model is written for the data.
 *
 * One streaming pass (rt_csv_reader_open) with bounded memory per column: running
 * moments (Welford), min and max, a count of every distinct value up to
 * RT_INSPECT_MAX_DISTINCT of them (later new values are not tracked, and the report
 * says so), and a seeded reservoir sample of RT_INSPECT_SAMPLE numbers for the
 * quartiles (exact when the column has no more numbers than that). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep_impl.h"

typedef struct {
  char *text;
  int64_t count;
} distinct_value;

typedef struct {
  long double mean, m2; /* wider than the numbers: (1e308 - -1e308)^2 stays finite */
  int64_t seen_numbers;   /* for the reservoir */
  double *sample;         /* doubles, as min and max: a number beyond f32's range is summarised too */
  int64_t nsample;
  distinct_value *vals;   /* open addressing, 2 * RT_INSPECT_MAX_DISTINCT slots */
  int64_t nvals;
  int64_t name_col;       /* where the header has the column's name, for messages */
} column_state;

#define SLOTS (2 * RT_INSPECT_MAX_DISTINCT)

static uint32_t hash_bytes(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

void rt_inspect_free(rt_inspect_report *r) {
  if (!r) return;
  for (int c = 0; c < r->ncols; c++) {
    rt_inspect_column *col = &r->cols[c];
    free(col->name);
    free(col->first_word);
    for (int k = 0; k < col->ntop; k++) free(col->top[k]);
  }
  free(r->cols);
  free(r->path);
  memset(r, 0, sizeof *r);
}

/* Counts one occurrence of text[0..n) (unless the table is full and it is new). */
static int count_value(rt_inspect_column *col, column_state *st, const char *text, size_t n) {
  if (!st->vals && !(st->vals = calloc(SLOTS, sizeof *st->vals))) return prep_oom();
  uint32_t h = hash_bytes(text, n) % SLOTS;
  for (; st->vals[h].text; h = (h + 1) % SLOTS) {
    if (strlen(st->vals[h].text) == n && !memcmp(st->vals[h].text, text, n)) {
      st->vals[h].count++;
      return 0;
    }
  }
  if (st->nvals == RT_INSPECT_MAX_DISTINCT) {
    col->distinct_capped = 1;
    return 0;
  }
  char *s = malloc(n + 1);
  if (!s) return prep_oom();
  memcpy(s, text, n);
  s[n] = '\0';
  st->vals[h] = (distinct_value){s, 1};
  st->nvals++;
  return 0;
}

static void add_number(rt_inspect_column *col, column_state *st, double v, rt_rng *rng) {
  if (col->numbers == 0) col->min = col->max = v;
  col->numbers++;
  if (v < col->min) col->min = v;
  if (v > col->max) col->max = v;
  if (v != floor(v)) col->integral = 0;
  long double d = v - st->mean;
  st->mean += d / (long double)col->numbers;
  st->m2 += d * (v - st->mean);
  /* Reservoir sampling (Vitter's algorithm R): every number has the same chance. */
  int64_t seen = st->seen_numbers++;
  if (st->nsample < RT_INSPECT_SAMPLE) {
    st->sample[st->nsample++] = v;
  } else {
    uint64_t j = rt_rng_below(rng, (uint64_t)seen + 1);
    if (j < RT_INSPECT_SAMPLE) st->sample[j] = v;
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int by_count(const void *a, const void *b) {
  const distinct_value *x = a, *y = b;
  if (!x->text || !y->text) return !x->text - !y->text; /* empty slots last */
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  return strcmp(x->text, y->text);
}

/* pandas' default quantile: linear interpolation between the closest ranks, weighted so
 * that no intermediate exceeds them (the difference of -1e308 and 1e308 would). */
static double quantile(const double *v, int64_t n, double q) {
  double pos = q * (double)(n - 1);
  int64_t lo = (int64_t)floor(pos);
  double frac = pos - (double)lo;
  return lo + 1 < n ? (1 - frac) * v[lo] + frac * v[lo + 1] : v[lo];
}

static int finish_column(rt_inspect_column *col, column_state *st) {
  col->numeric = col->count > 0 && col->numbers == col->count;
  if (!col->numeric) col->integral = 0;
  col->distinct = st->nvals;
  if (col->numbers) {
    col->mean = (double)st->mean;
    col->std = col->numbers > 1 ? (double)sqrtl(st->m2 / (long double)(col->numbers - 1)) : NAN;
    qsort(st->sample, (size_t)st->nsample, sizeof *st->sample, cmp_double);
    col->q25 = quantile(st->sample, st->nsample, 0.25);
    col->q50 = quantile(st->sample, st->nsample, 0.5);
    col->q75 = quantile(st->sample, st->nsample, 0.75);
    col->quartiles_exact = st->seen_numbers <= RT_INSPECT_SAMPLE;
  } else {
    col->min = col->max = col->mean = col->std = col->q25 = col->q50 = col->q75 = NAN;
  }
  if (st->vals) {
    qsort(st->vals, SLOTS, sizeof *st->vals, by_count);
    for (int k = 0; k < RT_INSPECT_TOP && k < st->nvals; k++) {
      col->top[k] = st->vals[k].text;
      col->top_count[k] = st->vals[k].count;
      st->vals[k].text = NULL;
      col->ntop++;
    }
  }
  return 0;
}

static int by_name_then_place(const void *a, const void *b) {
  const rt_inspect_column *x = *(const rt_inspect_column *const *)a, *y = *(const rt_inspect_column *const *)b;
  int d = strcmp(x->name, y->name);
  return d ? d : (x > y) - (x < y);
}

/* dlc train refuses a name the header has twice as soon as a model names it, and the
 * suggestion names every column that holds a value; columns of one name that are all
 * empty (commas at the end of every line) are left out, so they pass. The error is at
 * the second column of the first such name in the header. Sorted: wide headers stay fast. */
static int refuse_duplicate_names(const char *path, int64_t header_line, const rt_inspect_report *r,
                                  const column_state *st) {
  const rt_inspect_column **by_name = malloc((size_t)r->ncols * sizeof *by_name);
  if (!by_name) return prep_oom();
  for (int c = 0; c < r->ncols; c++) by_name[c] = &r->cols[c];
  qsort(by_name, (size_t)r->ncols, sizeof *by_name, by_name_then_place);
  int64_t first = -1, second = r->ncols;
  for (int i = 0, j; i < r->ncols; i = j) {
    int64_t values = 0;
    for (j = i; j < r->ncols && !strcmp(by_name[j]->name, by_name[i]->name); j++) values += by_name[j]->count;
    if (j - i > 1 && values && by_name[i + 1] - r->cols < second) {
      first = by_name[i] - r->cols;
      second = by_name[i + 1] - r->cols;
    }
  }
  free(by_name);
  if (first < 0) return 0;
  rt_set_error("%s:%lld:%lld: column \"%s\" appears twice in the header (columns %lld and %lld)", path,
               (long long)header_line, (long long)st[second].name_col, r->cols[first].name, (long long)first + 1,
               (long long)second + 1);
  return -1;
}

static void free_state(column_state *st) {
  if (st->vals)
    for (int k = 0; k < SLOTS; k++) free(st->vals[k].text);
  free(st->vals);
  free(st->sample);
}

int rt_inspect_csv(const char *path, rt_inspect_report *out) {
  memset(out, 0, sizeof *out);
  rt_csv_reader r;
  if (rt_csv_reader_open(&r, path)) return -1;
  column_state *st = NULL;
  int status = -1, rc, ncols = 0;
  rt_rng rng;
  rt_rng_seed_stream(&rng, 0, rt_stream_id("inspect"));
  if (!(out->path = prep_strdup(path))) goto oom;
  if ((rc = rt_csv_next(&r)) <= 0) {
    if (rc == 0) rt_set_error("%s: the file is empty (expected a header row of column names)", path);
    goto done;
  }
  int64_t header_line = r.rec_line;
  ncols = r.nfields;
  out->cols = calloc((size_t)ncols, sizeof *out->cols);
  st = calloc((size_t)ncols, sizeof *st);
  if (!out->cols || !st) goto oom;
  out->ncols = ncols;
  for (int c = 0; c < ncols; c++) {
    if (!(out->cols[c].name = rt_csv_unquote(&r.fields[c]))) goto oom;
    st[c].name_col = r.fields[c].col;
    out->cols[c].integral = 1;
    if (!(st[c].sample = malloc(RT_INSPECT_SAMPLE * sizeof *st[c].sample))) goto oom;
  }
  while ((rc = rt_csv_next(&r)) > 0) {
    if (r.nfields != ncols) {
      rt_set_error("%s:%lld:%lld: row has %d field%s but the header has %d columns", path, (long long)r.rec_line,
                   (long long)(r.nfields < ncols ? r.end_col : r.fields[ncols].col), r.nfields,
                   r.nfields == 1 ? "" : "s", ncols);
      goto done;
    }
    out->rows++;
    for (int c = 0; c < ncols; c++) {
      const rt_csv_field *f = &r.fields[c];
      rt_inspect_column *col = &out->cols[c];
      if (rt_csv_is_missing(f)) {
        col->missing++;
        continue;
      }
      col->count++;
      char *u = f->quoted ? rt_csv_unquote(f) : NULL;
      if (f->quoted && !u) goto oom;
      const char *text = u ? u : f->text;
      size_t n = u ? strlen(u) : f->len;
      double v;
      if (rt_parse_number(text, n, &v) == 0 && isfinite(v)) {
        add_number(col, &st[c], v, &rng);
      } else if (!col->first_word) {
        col->first_word_line = f->line;
        col->first_word_col = f->col;
        if (!(col->first_word = malloc(n + 1))) {
          free(u);
          goto oom;
        }
        memcpy(col->first_word, text, n);
        col->first_word[n] = '\0';
      }
      int bad = count_value(col, &st[c], text, n);
      free(u);
      if (bad) goto done;
    }
  }
  if (rc < 0) goto done;
  if (out->rows == 0) { /* nothing to summarise, and dlc train refuses such a file */
    rt_set_error("%s: no data rows after the header (line %lld)", path, (long long)header_line);
    goto done;
  }
  if (refuse_duplicate_names(path, header_line, out, st)) goto done;
  for (int c = 0; c < ncols; c++) finish_column(&out->cols[c], &st[c]);
  status = 0;
  goto done;
oom:
  prep_oom();
done:
  for (int c = 0; st && c < ncols; c++) free_state(&st[c]);
  free(st);
  rt_csv_reader_close(&r);
  if (status) rt_inspect_free(out);
  return status;
}

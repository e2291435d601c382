/* Data preparation: tables with missing values and categorical columns turned into the
 * f32 matrix a model consumes, the way the training data taught, and the same way at
 * prediction time. docs/data.md is the user's side of it.
 *
 *   settings   missing = error | mean | median | mode | constant(v) | fill(DEFAULT, col = POLICY, ...)
 *              categorical = [cols]   dummy_na = true   unseen = error | zeros   standardize = true
 *   read       a CSV file's selected columns as numbers, words and missing values (rt_table)
 *   fit        on the training rows: fill values, sorted category lists, means and deviations
 *   apply      fill -> one-hot -> scale, into an rt_csv_table (what the CSV loader gives)
 *   save/load  everything learned, as one JSON string for the safetensors metadata
 *
 * Like the rest of the runtime: no printing, no exit; 0 or -1 with dlc_last_error(). */
#ifndef DLC_RT_PREP_H
#define DLC_RT_PREP_H

#include <stdint.h>

#include "rt.h"

/* ---- settings (prep_spec.c) -------------------------------------------------------- */

typedef enum {
  RT_MISSING_UNSET,    /* a column without a policy of its own: the all-feature one */
  RT_MISSING_ERROR,    /* a missing value is an error naming file, line, column (default) */
  RT_MISSING_MEAN,     /* the training split's mean (numeric columns) */
  RT_MISSING_MEDIAN,   /* the training split's median (numeric columns) */
  RT_MISSING_MODE,     /* the training split's most frequent value (ties: the smallest) */
  RT_MISSING_CONSTANT, /* constant(v): a number, or a category for a categorical column */
} rt_missing_kind;

typedef struct {
  rt_missing_kind kind;
  double value; /* CONSTANT: as a number (NAN when the text is not one) */
  char *text;   /* CONSTANT: as text, the category it stands for; else NULL */
} rt_missing_policy;

/* A preparation: its settings, then (once fitted or loaded) what it learned. Opaque. */
typedef struct rt_prep rt_prep;

rt_prep *rt_prep_new(void);
void rt_prep_free(rt_prep *p);

/* Whether `key` is a preparation setting: missing, categorical, dummy_na, unseen,
 * standardize. */
int rt_prep_is_key(const char *key);
/* Sets one setting from its text, as the model's data source writes values:
 *   rt_prep_set(p, "missing", "fill(mean, rooms = median, lot = constant(0))")
 *   rt_prep_set(p, "categorical", "[alley, zone]")     (also a bare "alley" or "c0..c9")
 * For command-line overrides. A later call replaces the setting. */
int rt_prep_set(rt_prep *p, const char *key, const char *value);
/* Reads the preparation settings out of a data source's text ("csv(path=..., missing=mean,
 * categorical=[alley])") and returns, in *rest (malloc'd), the same text without them,
 * for rt_data_spec_parse. `standardize` is read and also left in *rest. */
int rt_prep_take_source(rt_prep *p, const char *source, char **rest);
/* Whether any preparation setting but `standardize` was given: then CSV data go through
 * the preparation (rt_prep_read_csv) instead of the plain numeric reader. */
int rt_prep_active(const rt_prep *p);
/* The setting texts, canonical, for messages and docs ("mean", "[alley]"). */
int rt_prep_settings_text(const rt_prep *p, char *buf, size_t size);

/* ---- tables (prep_table.c) ----------------------------------------------------------- */

/* One selected column of a file. */
typedef struct {
  char *name;
  int categorical;
  float *num;      /* numeric: [rows], NAN for a missing value */
  int32_t *word;   /* categorical: [rows], an index into words, -1 for a missing value */
  int32_t *col;    /* categorical: [rows], the field's column in its line, for messages */
  char **words;    /* categorical: the distinct values, in order of first appearance */
  int32_t nwords;
  void *index;     /* categorical: hash index over words */
  int32_t index_cap;
} rt_table_column;

typedef struct {
  char *path;
  int64_t rows, cap;
  int64_t *line;   /* [rows] the line each row starts on */
  int ncols;
  rt_table_column *cols;
  int label_dtype; /* DLC_F32 or DLC_I32 */
  void *y;         /* [rows] float or int32_t; NULL without a label */
  char *label;
} rt_table;

/* Reads `path`'s feature columns (opt->features, or every column but the label; a fitted
 * preparation reads the columns it was fitted on) and its label (opt->label, may be
 * NULL). Numbers are strict (rt_parse_number); a word in a numeric column, a missing
 * label, and a missing feature under the `error` policy are errors naming file, line,
 * column and the text; a column the header lacks gets a did-you-mean. */
int rt_table_read(const char *path, const rt_prep *p, const rt_csv_options *opt, rt_table *out);
void rt_table_free(rt_table *t);

/* ---- fit and apply (prep.c) --------------------------------------------------------- */

/* Learns from rows[0..n) of t (NULL: every row): fill values, categories (sorted by
 * bytes, as pandas' get_dummies sorts them), means and deviations (after filling, over
 * numeric columns; indicator columns stay 0/1). Replaces anything learned before. */
int rt_prep_fit(rt_prep *p, const rt_table *t, const int64_t *rows, int64_t n);
int rt_prep_fitted(const rt_prep *p);
/* fill -> one-hot -> scale, every row of t, into out (rt_csv_free() it): x is
 * [rows, rt_prep_width()] and feature_names the expanded layout. An unseen category is
 * all zeros under `unseen = zeros`, else an error naming the value, file, line, column. */
int rt_prep_apply(const rt_prep *p, const rt_table *t, rt_csv_table *out);

/* The preparation's training rows: with a hold-out set, those rt_split_rows keeps for
 * training (the rows rt_data_split keeps, when given the same rows, fraction and seed);
 * without one (the default), every row of the first file it is fitted on. */
int rt_prep_hold_out(rt_prep *p, double fraction, uint64_t seed);
/* Read, fit if not fitted yet (on the training rows above), apply: the drop-in for
 * rt_csv_read when rt_prep_active(). */
int rt_prep_read_csv(const char *path, const rt_csv_options *opt, rt_prep *p, rt_csv_table *out);

/* The seeded split every dlc data set uses: idx is a permutation of 0..rows-1 whose
 * first *ntest entries are the test rows: round(rows * fraction), at least 1 and at
 * most rows - 1. idx is malloc'd. */
int rt_split_rows(int64_t rows, double fraction, uint64_t seed, int64_t **idx, int64_t *ntest);

/* The expanded layout: columns of the matrix and their names ("rooms", "alley=Pave",
 * "alley=nan"); valid once fitted. */
int64_t rt_prep_width(const rt_prep *p);
const char *rt_prep_output_name(const rt_prep *p, int64_t j);

/* ---- saving (prep_meta.c) ------------------------------------------------------------ */

/* The metadata key of a checkpoint's preparation. */
#define RT_META_PREP "dlc.prep"
/* The key of the header names of the feature columns, in input order, when training read a
 * CSV file through the plain numeric reader (a preparation records its own columns). */
#define RT_META_FEATURES "dlc.features"

/* Everything learned and every setting, as a JSON object (malloc'd) whose numbers read
 * back as the same floats, so a loaded preparation gives the same matrix bit for bit. */
int rt_prep_to_json(const rt_prep *p, char **json);
/* Replaces p's settings and learned state with the saved ones. */
int rt_prep_from_json(rt_prep *p, const char *json);
/* A checkpoint's preparation: 1 and p loaded when it has one, 0 when it has none. */
int rt_prep_from_file(rt_prep *p, rt_st_file *f);
/* RT_META_FEATURES's value: a JSON list of column names (malloc'd) ... */
int rt_columns_to_json(char *const *names, int n, char **json);
/* ... and back: *names and each of them malloc'd. */
int rt_columns_from_json(const char *json, char ***names, int *n);
/* The expanded input layout, column by column, for C programs that link the runtime (nothing
 * writes it yet; train.so users prepare rows with dlc_prepare_csv):
 * {"width": 4, "columns": [{"index": 0, "name": "rooms", "source": "rooms",
 *   "kind": "numeric", "fill": 3, "mean": 3.2, "std": 1.1}, {"index": 1, "name":
 *   "alley=Pave", "source": "alley", "kind": "indicator", "category": "Pave"}, ...]} */
int rt_prep_layout_json(const rt_prep *p, char **json);

/* ---- looking at a file (inspect.c) ----------------------------------------------------- */

#define RT_INSPECT_MAX_DISTINCT 1000 /* distinct values tracked per column */
#define RT_INSPECT_SAMPLE 10000      /* values kept per numeric column for quartiles */
#define RT_INSPECT_TOP 5             /* most common values reported */

typedef struct {
  char *name;
  int64_t count;      /* non-missing values */
  int64_t missing;
  int64_t numbers;    /* values that parse as numbers */
  int numeric;        /* every non-missing value is a number (and there is one) */
  int integral;       /* numeric and every value a whole number */
  double min, max, mean, std; /* numbers only; std with ddof 1, as describe() */
  double q25, q50, q75;       /* quartiles of the numbers (linear interpolation) */
  int quartiles_exact;        /* 0: estimated from a seeded sample of RT_INSPECT_SAMPLE */
  int64_t distinct;           /* distinct values seen (at most RT_INSPECT_MAX_DISTINCT) */
  int distinct_capped;        /* more than RT_INSPECT_MAX_DISTINCT */
  int ntop;
  char *top[RT_INSPECT_TOP];  /* most common values, most common first (ties: by bytes) */
  int64_t top_count[RT_INSPECT_TOP];
  char *first_word;           /* the first value that is not a number, and where */
  int64_t first_word_line, first_word_col;
} rt_inspect_column;

typedef struct {
  char *path;
  int64_t rows;
  int ncols;
  rt_inspect_column *cols;
} rt_inspect_report;

/* One streaming pass over a CSV file, in memory bounded by its widest record and the
 * limits above. */
int rt_inspect_csv(const char *path, rt_inspect_report *out);
void rt_inspect_free(rt_inspect_report *r);

#endif

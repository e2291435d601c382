/* Fitting and applying a data preparation: fill -> one-hot -> scale.
 *
 * Fitting looks only at the training rows: a numeric column learns the value its missing
 * entries become (mean, median, mode or a constant) and, under standardize, the mean and
 * population deviation of its filled values; a categorical column learns its categories,
 * sorted by bytes as pandas' get_dummies sorts them, plus the one a missing entry becomes
 * (mode, constant) and, with dummy_na, a "name=nan" column last. The expanded layout keeps
 * the features' order: each categorical column is replaced, in place, by its indicators.
 *
 * Applying is one loop over rows, the same code for training and prediction, from the
 * same floats (saved with %.9g, read back exactly), so both see the same matrix bit for
 * bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep_impl.h"

void prep_clear_learned(rt_prep *p) {
  for (int j = 0; j < p->ncols; j++) {
    prep_col *c = &p->cols[j];
    free(c->name);
    prep_policy_free(&c->policy);
    for (int32_t k = 0; k < c->ncats; k++) free(c->cats[k]);
    free(c->cats);
  }
  free(p->cols);
  for (int64_t j = 0; j < p->width; j++) free(p->names[j]);
  free(p->names);
  p->cols = NULL;
  p->names = NULL;
  p->ncols = 0;
  p->width = 0;
  p->fitted = 0;
}

int rt_prep_fitted(const rt_prep *p) { return p->fitted; }
int64_t rt_prep_width(const rt_prep *p) { return p->fitted ? p->width : 0; }
const char *rt_prep_output_name(const rt_prep *p, int64_t j) {
  return p->fitted && j >= 0 && j < p->width ? p->names[j] : NULL;
}

int prep_layout(rt_prep *p) {
  int64_t width = 0;
  for (int j = 0; j < p->ncols; j++) {
    prep_col *c = &p->cols[j];
    c->first = width;
    c->width = c->categorical ? c->ncats + (c->na_indicator ? 1 : 0) : 1;
    width += c->width;
  }
  if (!(p->names = calloc((size_t)(width ? width : 1), sizeof *p->names))) return prep_oom();
  p->width = width;
  for (int j = 0; j < p->ncols; j++) {
    prep_col *c = &p->cols[j];
    for (int64_t k = 0; k < c->width; k++) {
      const char *cat = !c->categorical ? NULL : k < c->ncats ? c->cats[k] : "nan";
      size_t n = strlen(c->name) + (cat ? strlen(cat) + 1 : 0) + 1;
      char *s = malloc(n);
      if (!s) return prep_oom();
      if (cat)
        snprintf(s, n, "%s=%s", c->name, cat);
      else
        snprintf(s, n, "%s", c->name);
      p->names[c->first + k] = s;
    }
  }
  return 0;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The fill value of a numeric column from its present training values v[0..n). */
static int numeric_fill(const rt_table *t, prep_col *c, float *v, int64_t n) {
  char pol[64];
  prep_policy_text(&c->policy, pol, sizeof pol);
  if (c->policy.kind == RT_MISSING_ERROR) return 0;
  if (c->policy.kind == RT_MISSING_CONSTANT) {
    if (isnan(c->policy.value)) {
      rt_set_error("%s: column \"%s\" is numeric, so its missing values cannot become %s", t->path, c->name, pol);
      return -1;
    }
    c->fill = (float)c->policy.value;
    c->has_fill = 1;
    return 0;
  }
  if (n == 0) {
    rt_set_error("%s: column \"%s\" has no values in the training rows to take the %s of", t->path, c->name, pol);
    return -1;
  }
  if (c->policy.kind == RT_MISSING_MEAN) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += v[i];
    c->fill = (float)(sum / (double)n);
  } else {
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    if (c->policy.kind == RT_MISSING_MEDIAN) {
      c->fill = n % 2 ? v[n / 2] : (float)(((double)v[n / 2 - 1] + (double)v[n / 2]) / 2);
    } else { /* mode: the longest run of equal values; the first (smallest) on a tie */
      int64_t best = 0, best_len = 0;
      for (int64_t i = 0, j; i < n; i = j) {
        for (j = i; j < n && v[j] == v[i]; j++) {
        }
        if (j - i > best_len) best = i, best_len = j - i;
      }
      c->fill = v[best];
    }
  }
  c->has_fill = 1;
  return 0;
}

/* Categories of a categorical column from its training rows, and its fill category. */
static int categorical_fit(const rt_prep *p, const rt_table *t, const rt_table_column *tc, prep_col *c,
                           const int64_t *rows, int64_t n) {
  int64_t *count = calloc((size_t)(tc->nwords ? tc->nwords : 1), sizeof *count);
  if (!count) return prep_oom();
  for (int64_t i = 0; i < n; i++) {
    int32_t w = tc->word[rows ? rows[i] : i];
    if (w >= 0) count[w]++;
  }
  int32_t ncats = 0;
  for (int32_t w = 0; w < tc->nwords; w++) ncats += count[w] > 0;
  int constant = c->policy.kind == RT_MISSING_CONSTANT;
  c->cats = calloc((size_t)ncats + 1, sizeof *c->cats);
  if (!c->cats) {
    free(count);
    return prep_oom();
  }
  const char *mode = NULL;
  int64_t mode_count = 0;
  for (int32_t w = 0; w < tc->nwords; w++) {
    if (!count[w]) continue;
    if (!(c->cats[c->ncats++] = prep_strdup(tc->words[w]))) {
      free(count);
      return prep_oom();
    }
    if (count[w] > mode_count || (count[w] == mode_count && strcmp(tc->words[w], mode) < 0))
      mode = tc->words[w], mode_count = count[w];
  }
  free(count);
  const char *fill = c->policy.kind == RT_MISSING_MODE ? mode : constant ? c->policy.text : NULL;
  if (c->policy.kind == RT_MISSING_MODE && !mode) {
    rt_set_error("%s: column \"%s\" has no values in the training rows to take the mode of", t->path, c->name);
    return -1;
  }
  if (constant) { /* a constant category gets a column even if no training row has it */
    int known = 0;
    for (int32_t k = 0; k < c->ncats && !known; k++) known = !strcmp(c->cats[k], fill);
    if (!known && !(c->cats[c->ncats++] = prep_strdup(fill))) return prep_oom();
  }
  qsort(c->cats, (size_t)c->ncats, sizeof *c->cats, cmp_str);
  c->fill_cat = -1;
  for (int32_t k = 0; fill && k < c->ncats; k++)
    if (!strcmp(c->cats[k], fill)) c->fill_cat = k;
  c->na_indicator = p->dummy_na;
  if (c->ncats == 0 && !c->na_indicator) {
    rt_set_error("%s: categorical column \"%s\" has no values in the training rows", t->path, c->name);
    return -1;
  }
  return 0;
}

int rt_prep_fit(rt_prep *p, const rt_table *t, const int64_t *rows, int64_t n) {
  prep_clear_learned(p);
  if (n < 1) {
    rt_set_error("%s: no training rows to learn the data preparation from", t->path);
    return -1;
  }
  if (!(p->cols = calloc((size_t)(t->ncols ? t->ncols : 1), sizeof *p->cols))) return prep_oom();
  p->ncols = t->ncols;
  float *v = malloc((size_t)n * sizeof *v);
  if (!v) return prep_oom();
  int status = -1;
  for (int j = 0; j < t->ncols; j++) {
    const rt_table_column *tc = &t->cols[j];
    prep_col *c = &p->cols[j];
    c->fill_cat = -1;
    if (!(c->name = prep_strdup(tc->name))) goto oom;
    c->categorical = tc->categorical;
    if (prep_policy_copy(&c->policy, prep_policy_for(p, tc->name))) goto done;
    if (c->categorical) {
      if (categorical_fit(p, t, tc, c, rows, n)) goto done;
      continue;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
      float x = tc->num[rows ? rows[i] : i];
      if (!isnan(x)) v[k++] = x;
    }
    if (numeric_fill(t, c, v, k)) goto done;
    if (!p->standardize) continue;
    /* Two passes in double over the filled values: the mean, then the deviations. */
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) {
      float x = tc->num[rows ? rows[i] : i];
      sum += isnan(x) ? c->fill : x;
    }
    double mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++) {
      float x = tc->num[rows ? rows[i] : i];
      double e = (isnan(x) ? c->fill : x) - mean;
      sq += e * e;
    }
    double sd = sqrt(sq / (double)n);
    c->scaled = 1;
    c->mean = (float)mean;
    c->std = sd > 1e-12 * (fabs(mean) + 1) ? (float)sd : 1.0f; /* a constant column is only centred */
  }
  if (prep_layout(p)) goto done;
  p->fitted = 1;
  status = 0;
  goto done;
oom:
  prep_oom();
done:
  free(v);
  if (status) prep_clear_learned(p);
  return status;
}

/* The category index of each of the table column's words, or -1 for an unseen one. */
static int32_t *category_map(const rt_table_column *tc, const prep_col *c) {
  int32_t *map = malloc((size_t)(tc->nwords ? tc->nwords : 1) * sizeof *map);
  if (!map) return NULL;
  for (int32_t w = 0; w < tc->nwords; w++) {
    char *const *hit = bsearch(&tc->words[w], c->cats, (size_t)c->ncats, sizeof *c->cats, cmp_str);
    map[w] = hit ? (int32_t)(hit - c->cats) : -1;
  }
  return map;
}

static int unseen_error(const rt_table *t, const prep_col *c, int64_t row, const rt_table_column *tc, int32_t w) {
  char known[300];
  size_t used = 0;
  known[0] = '\0';
  for (int32_t k = 0; k < c->ncats && used < sizeof known; k++) {
    int m = snprintf(known + used, sizeof known - used, "%s%s", k ? ", " : "", c->cats[k]);
    if (m < 0) break;
    used += (size_t)m;
  }
  if (used >= sizeof known) strcpy(known + sizeof known - 5, "...");
  rt_set_error("%s:%lld:%lld: category \"%s\" of column \"%s\" is not in the training data (it has: %s); "
               "with unseen = zeros such a row gets all-zero indicators",
               t->path, (long long)t->line[row], (long long)tc->col[row], tc->words[w], c->name, known);
  return -1;
}

int rt_prep_apply(const rt_prep *p, const rt_table *t, rt_csv_table *out) {
  memset(out, 0, sizeof *out);
  if (!p->fitted) {
    rt_set_error("%s: the data preparation has not learned from training data yet", t->path);
    return -1;
  }
  if (t->ncols != p->ncols) {
    rt_set_error("%s: %d feature columns, but the data preparation was learned on %d", t->path, t->ncols, p->ncols);
    return -1;
  }
  for (int j = 0; j < p->ncols; j++)
    if (strcmp(t->cols[j].name, p->cols[j].name) || t->cols[j].categorical != p->cols[j].categorical) {
      rt_set_error("%s: feature column %d is \"%s\", but the data preparation learned \"%s\" (%s) there", t->path,
                   j + 1, t->cols[j].name, p->cols[j].name, p->cols[j].categorical ? "categorical" : "numeric");
      return -1;
    }
  int64_t width = p->width;
  out->rows = t->rows;
  out->nfeatures = (int)width;
  out->label_dtype = t->label_dtype;
  out->x = calloc((size_t)(t->rows * (width ? width : 1)), sizeof *out->x);
  out->feature_names = calloc((size_t)(width ? width : 1), sizeof *out->feature_names);
  int32_t **maps = calloc((size_t)(p->ncols ? p->ncols : 1), sizeof *maps);
  int status = -1;
  if (!out->x || !out->feature_names || !maps) goto oom;
  for (int64_t k = 0; k < width; k++)
    if (!(out->feature_names[k] = prep_strdup(p->names[k]))) goto oom;
  for (int j = 0; j < p->ncols; j++)
    if (p->cols[j].categorical && !(maps[j] = category_map(&t->cols[j], &p->cols[j]))) goto oom;

  for (int64_t r = 0; r < t->rows; r++) {
    float *x = out->x + r * width;
    for (int j = 0; j < p->ncols; j++) {
      const prep_col *c = &p->cols[j];
      const rt_table_column *tc = &t->cols[j];
      if (!c->categorical) {
        float v = tc->num[r];
        if (isnan(v)) {
          if (!c->has_fill) { /* the reader refuses these first; a table read otherwise may not */
            rt_set_error("%s:%lld: missing value in column \"%s\", whose missing-value policy is error", t->path,
                         (long long)t->line[r], c->name);
            goto done;
          }
          v = c->fill;
        }
        x[c->first] = c->scaled ? (v - c->mean) / c->std : v;
        continue;
      }
      int32_t w = tc->word[r];
      if (w < 0) {
        if (c->na_indicator)
          x[c->first + c->ncats] = 1;
        else if (c->fill_cat >= 0)
          x[c->first + c->fill_cat] = 1;
        else if (c->policy.kind == RT_MISSING_ERROR) {
          rt_set_error("%s:%lld:%d: missing value in column \"%s\", whose missing-value policy is error", t->path,
                       (long long)t->line[r], tc->col[r], c->name);
          goto done;
        } /* mean or median: nothing to average, all zeros (as get_dummies without dummy_na) */
        continue;
      }
      int32_t k = maps[j][w];
      if (k >= 0)
        x[c->first + k] = 1;
      else if (!p->unseen_zeros && unseen_error(t, c, r, tc, w))
        goto done;
    }
  }
  if (t->y) {
    if (!(out->y = malloc((size_t)t->rows * 4))) goto oom;
    memcpy(out->y, t->y, (size_t)t->rows * 4);
    if (t->label_dtype == DLC_I32) {
      int32_t max = -1;
      for (int64_t r = 0; r < t->rows; r++)
        if (((int32_t *)t->y)[r] > max) max = ((int32_t *)t->y)[r];
      out->nclasses = max + 1;
    }
  }
  status = 0;
  goto done;
oom:
  prep_oom();
done:
  for (int j = 0; maps && j < p->ncols; j++) free(maps[j]);
  free(maps);
  if (status) rt_csv_free(out);
  return status;
}

int rt_split_rows(int64_t rows, double fraction, uint64_t seed, int64_t **idx, int64_t *ntest) {
  *idx = NULL;
  *ntest = 0;
  if (!(fraction > 0 && fraction < 1)) {
    rt_set_error("the test split must be a fraction between 0 and 1, not %g", fraction);
    return -1;
  }
  int64_t n = (int64_t)llround((double)rows * fraction);
  if (n < 1) n = 1;
  if (n > rows - 1) n = rows - 1;
  if (n < 1) {
    rt_set_error("%lld row%s cannot be split into a training and a test set", (long long)rows, rows == 1 ? "" : "s");
    return -1;
  }
  if (!(*idx = malloc((size_t)rows * sizeof **idx))) return prep_oom();
  rt_rng rng;
  rt_rng_seed_stream(&rng, seed, rt_stream_id("split"));
  rt_rng_permutation(&rng, *idx, rows);
  *ntest = n;
  return 0;
}

int rt_prep_hold_out(rt_prep *p, double fraction, uint64_t seed) {
  if (!(fraction > 0 && fraction < 1)) {
    rt_set_error("the test split must be a fraction between 0 and 1, not %g", fraction);
    return -1;
  }
  p->has_holdout = 1;
  p->holdout = fraction;
  p->holdout_seed = seed;
  return 0;
}

int rt_prep_read_csv(const char *path, const rt_csv_options *opt, rt_prep *p, rt_csv_table *out) {
  memset(out, 0, sizeof *out);
  rt_table t;
  if (rt_table_read(path, p, opt, &t)) return -1;
  int status = -1;
  if (!p->fitted) {
    int64_t *idx = NULL, ntest = 0;
    if (p->has_holdout && rt_split_rows(t.rows, p->holdout, p->holdout_seed, &idx, &ntest)) goto done;
    int rc = rt_prep_fit(p, &t, idx ? idx + ntest : NULL, t.rows - ntest);
    free(idx);
    if (rc) goto done;
  }
  status = rt_prep_apply(p, &t, out);
done:
  rt_table_free(&t);
  return status;
}

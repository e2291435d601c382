/* What the preparation's files share (prep_spec.c, prep_table.c, prep.c, prep_meta.c):
 * the rt_prep object and helpers. Not part of the runtime's interface. */
#ifndef DLC_PREP_IMPL_H
#define DLC_PREP_IMPL_H

#include "rt_prep.h"

/* What was learned about one feature column. */
typedef struct {
  char *name;
  int categorical;
  rt_missing_policy policy; /* the column's effective policy (never UNSET) */
  float fill;               /* numeric: what a missing value becomes, once fitted */
  int has_fill;
  char **cats;              /* categorical: the categories, sorted by bytes */
  int32_t ncats;
  int32_t fill_cat;         /* categorical: the category a missing value becomes, or -1 */
  int na_indicator;         /* categorical: a "name=nan" column for missing values */
  int scaled;               /* numeric under standardize: (x - mean) / std */
  float mean, std;
  int64_t first, width;     /* output columns [first, first + width) */
} prep_col;

struct rt_prep {
  /* settings */
  int has_settings;               /* a setting other than standardize was given */
  rt_missing_policy missing;      /* every feature without its own (default: error) */
  int npol;
  char **pol_cols;                /* per-column policies: fill(col = policy) */
  rt_missing_policy *pols;
  int ncat;
  char **cat_cols;                /* categorical columns */
  int dummy_na, unseen_zeros, standardize;
  int has_holdout;
  double holdout;
  uint64_t holdout_seed;
  /* learned */
  int fitted;
  int ncols;
  prep_col *cols;
  int64_t width;
  char **names;                   /* [width] the expanded layout */
};

/* The policy that applies to column `col` (per-column, else all-feature, else error). */
const rt_missing_policy *prep_policy_for(const rt_prep *p, const char *col);
int prep_is_categorical(const rt_prep *p, const char *col);
/* "mean", "constant(0)", "constant(\"None\")" */
void prep_policy_text(const rt_missing_policy *m, char *buf, size_t size);
int prep_parse_policy(const char *text, rt_missing_policy *out);
int prep_policy_copy(rt_missing_policy *dst, const rt_missing_policy *src);
void prep_policy_free(rt_missing_policy *m);
void prep_clear_learned(rt_prep *p);
void prep_clear_settings(rt_prep *p);
/* Output offsets and names from p->cols; sets width. */
int prep_layout(rt_prep *p);
/* "did you mean" and the header list for a column the file lacks; sets the error. */
void prep_no_column(const char *file, int64_t line, const char *what, const char *name,
                    char *const *names, int n);
char *prep_strdup(const char *s);
int prep_oom(void);

#endif

/* Error reporting for the runtime: one message per thread, read with dlc_last_error(),
 * so a failing call in one thread never garbles another's message. Also the small
 * helpers that error messages need: dtype names, shapes, "did you mean" hints. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

static _Thread_local char rt_error_buf[RT_ERR_MAX];

const char *dlc_last_error(void) { return rt_error_buf; }

void rt_set_errorv(const char *fmt, va_list ap) {
  vsnprintf(rt_error_buf, sizeof rt_error_buf, fmt, ap);
}

void rt_set_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rt_set_errorv(fmt, ap);
  va_end(ap);
}

void rt_prefix_error(const char *fmt, ...) {
  char old[RT_ERR_MAX];
  memcpy(old, rt_error_buf, sizeof old);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(rt_error_buf, sizeof rt_error_buf, fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < sizeof rt_error_buf)
    snprintf(rt_error_buf + n, sizeof rt_error_buf - (size_t)n, "%s", old);
}

void rt_clear_error(void) { rt_error_buf[0] = '\0'; }

/* Levenshtein distance, case-insensitive, with an early cap: names are short. */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64) return (size_t)-1;
  size_t row[65];
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
      size_t best = diag + cost;
      if (row[j] + 1 < best) best = row[j] + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

const char *rt_closest_name(const char *name, const char *const *candidates, int n) {
  const char *best = NULL;
  size_t best_d = (size_t)-1;
  for (int i = 0; i < n; i++) {
    if (!candidates[i]) continue;
    size_t d = edit_distance(name, candidates[i]);
    if (d < best_d) {
      best_d = d;
      best = candidates[i];
    }
  }
  /* A plausible typo: a third of the name's letters at most, and never all of them. */
  size_t len = strlen(name);
  size_t limit = len / 3 > 2 ? len / 3 : 2;
  if (best && best_d <= limit && best_d < len) return best;
  return NULL;
}

size_t rt_dtype_size(int dtype) {
  switch (dtype) {
  case DLC_F32: return 4;
  case DLC_F64: return 8;
  case DLC_I32: return 4;
  case DLC_I64: return 8;
  case DLC_BOOL: return 1;
  default: return 0;
  }
}

const char *rt_dtype_name(int dtype) {
  switch (dtype) {
  case DLC_F32: return "f32";
  case DLC_F64: return "f64";
  case DLC_I32: return "i32";
  case DLC_I64: return "i64";
  case DLC_BOOL: return "bool";
  default: return "?";
  }
}

int64_t rt_numel(int rank, const int64_t *shape) {
  if (rank < 0 || rank > DLC_MAX_RANK) return -1;
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (shape[i] < 0) return -1;
    if (shape[i] != 0 && n > INT64_MAX / 16 / shape[i]) return -1; /* leaves room for bytes */
    n *= shape[i];
  }
  return n;
}

char *rt_shape_str(int rank, const int64_t *shape, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  int n = snprintf(buf, size, "[");
  if (n > 0) used = (size_t)n;
  for (int i = 0; i < rank && used < size; i++) {
    n = snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < 0) break;
    used += (size_t)n;
  }
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}

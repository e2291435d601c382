/* Strict decimal numbers, for CSV fields and initialiser arguments.
 *
 * strtod alone is wrong for data: it skips leading spaces, accepts hex, "inf", "nan" and
 * "1e" prefixes, and reads the decimal point of the C locale (a ',' in a Python process
 * that set a German locale). So the grammar is checked here first, the common short
 * numbers are converted exactly by Clinger's fast path (a mantissa below 2^53 times or
 * over an exact power of ten is one correctly rounded operation), and the rest go to
 * strtod rewritten as "<digits>e<exp>", a form no locale changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The slow, exact path: every significant digit and the exponent, handed to strtod. */
static double slow_path(const char *s, size_t len, int neg, int64_t exp10) {
  char small[128];
  char *buf = len + 32 <= sizeof small ? small : malloc(len + 32);
  if (!buf) return 0.0 / 0.0; /* NaN: the caller rejects non-finite results */
  size_t n = 0;
  if (neg) buf[n++] = '-';
  int started = 0;
  for (size_t i = 0; i < len && s[i] != 'e' && s[i] != 'E'; i++) {
    if (!is_digit(s[i])) continue;
    if (s[i] == '0' && !started) continue;
    started = 1;
    buf[n++] = s[i];
  }
  double v;
  if (!started) {
    v = neg ? -0.0 : 0.0;
  } else {
    snprintf(buf + n, 24, "e%lld", (long long)exp10);
    v = strtod(buf, NULL);
  }
  if (buf != small) free(buf);
  return v;
}

int rt_parse_number(const char *s, size_t len, double *out) {
  size_t i = 0;
  int neg = 0;
  if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';

  uint64_t mant = 0;  /* first 19 significant digits */
  int nsig = 0;       /* digits in mant */
  int truncated = 0;  /* a significant digit did not fit in mant */
  int64_t dexp = 0;   /* mant * 10^dexp is the digits' value */
  size_t ndigits = 0, nfrac = 0;
  for (int in_frac = 0;; i++) {
    if (i < len && s[i] == '.' && !in_frac) {
      in_frac = 1;
      continue;
    }
    if (i >= len || !is_digit(s[i])) break;
    int d = s[i] - '0';
    ndigits++;
    if (in_frac) {
      nfrac++;
      dexp--;
    }
    if (mant == 0 && d == 0 && !truncated) continue; /* leading zero */
    if (nsig < 19) {
      mant = mant * 10 + (uint64_t)d;
      nsig++;
    } else {
      dexp++;
      truncated = 1;
    }
  }
  if (ndigits == 0) return -1;

  int64_t e = 0;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    int eneg = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    size_t start = i;
    for (; i < len && is_digit(s[i]); i++)
      if (e < 1000000) e = e * 10 + (s[i] - '0'); /* far beyond any double's range */
    if (i == start) return -1;
    if (eneg) e = -e;
  }
  if (i != len) return -1;

  int64_t exp10 = dexp + e;
  double v;
  if (mant == 0) {
    v = 0.0;
  } else if (!truncated && mant <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
    v = (double)mant;
    v = exp10 >= 0 ? v * pow10_exact[exp10] : v / pow10_exact[-exp10];
  } else {
    *out = slow_path(s, len, neg, e - (int64_t)nfrac);
    return 0;
  }
  *out = neg ? -v : v;
  return 0;
}

/* NumPy .npy files: one tensor, a magic string, a format version, a Python-literal
 * header {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded so the data
 * start on a 64-byte boundary, then the raw data in C order. Only little-endian data of
 * dlc's dtypes are read; anything else is refused with a message, never reinterpreted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the runtime reads and writes little-endian files by copying memory; port npy.c first"
#endif

static const struct {
  const char *descr;
  int dtype;
} npy_types[] = {
    {"<f4", DLC_F32}, {"<f8", DLC_F64}, {"<i4", DLC_I32}, {"<i8", DLC_I64}, {"|b1", DLC_BOOL},
    /* '=' is native order, which is little-endian here */
    {"=f4", DLC_F32}, {"=f8", DLC_F64}, {"=i4", DLC_I32}, {"=i8", DLC_I64}, {"<b1", DLC_BOOL},
};

int rt_npy_save(const char *path, const dlc_tensor *t) {
  int64_t n = rt_numel(t->rank, t->shape);
  size_t es = rt_dtype_size(t->dtype);
  if (n < 0 || es == 0) {
    rt_set_error("%s: cannot save a tensor of invalid dtype or shape", path);
    return -1;
  }
  if (n > 0 && !t->data) {
    rt_set_error("%s: cannot save a tensor without data", path);
    return -1;
  }
  const char *descr = NULL;
  for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0] && !descr; i++)
    if (npy_types[i].dtype == t->dtype) descr = npy_types[i].descr;

  char header[512];
  int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  for (int i = 0; i < t->rank; i++)
    len += snprintf(header + len, sizeof header - (size_t)len, "%lld%s", (long long)t->shape[i],
                    t->rank == 1 ? "," : i + 1 < t->rank ? ", " : "");
  len += snprintf(header + len, sizeof header - (size_t)len, "), }");
  /* Pad with spaces and a final newline so that 10 + len is a multiple of 64. */
  int total = (10 + len + 1 + 63) / 64 * 64;
  while (10 + len + 1 < total) header[len++] = ' ';
  header[len++] = '\n';

  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(len & 0xff),
                           (unsigned char)(len >> 8)};
  rt_atomic_file f;
  if (rt_atomic_open(&f, path) != 0) return -1;
  rt_atomic_write(&f, pre, sizeof pre);
  rt_atomic_write(&f, header, (size_t)len);
  rt_atomic_write(&f, t->data, (size_t)n * es);
  return rt_atomic_commit(&f);
}

/* ---- reading: a tiny parser for the header's Python dict literal ----------------- */

typedef struct {
  const char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int eat(cursor *c, char ch) {
  skip_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return 1;
  }
  return 0;
}

/* A '...' or "..." string without escapes, into buf. */
static int read_str(cursor *c, char *buf, size_t size) {
  skip_ws(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
  char q = *c->p++;
  size_t n = 0;
  while (c->p < c->end && *c->p != q) {
    if (n + 1 >= size) return -1;
    buf[n++] = *c->p++;
  }
  if (c->p >= c->end) return -1;
  c->p++;
  buf[n] = '\0';
  return 0;
}

static int header_error(const char *path, const char *what) {
  rt_set_error("%s: malformed .npy header: %s", path, what);
  return -1;
}

static int parse_header(const char *path, cursor *c, int *dtype, int *rank, int64_t *shape) {
  int have_descr = 0, have_order = 0, have_shape = 0;
  if (!eat(c, '{')) return header_error(path, "expected '{'");
  while (!eat(c, '}')) {
    char key[32], val[32];
    if (read_str(c, key, sizeof key) != 0) return header_error(path, "expected a quoted key");
    if (!eat(c, ':')) return header_error(path, "expected ':'");
    /* One value per key: a second 'shape' would leave the first one's extra dimensions. */
    if ((!strcmp(key, "descr") && have_descr) || (!strcmp(key, "fortran_order") && have_order) ||
        (!strcmp(key, "shape") && have_shape)) {
      rt_set_error("%s: malformed .npy header: '%s' appears twice", path, key);
      return -1;
    }
    if (!strcmp(key, "descr")) {
      if (read_str(c, val, sizeof val) != 0) return header_error(path, "'descr' is not a simple type string");
      *dtype = -1;
      for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (!strcmp(npy_types[i].descr, val)) *dtype = npy_types[i].dtype;
      if (*dtype < 0) {
        rt_set_error("%s: unsupported .npy dtype '%s' (dlc reads little-endian <f4, <f8, <i4, <i8 and |b1)",
                     path, val);
        return -1;
      }
      have_descr = 1;
    } else if (!strcmp(key, "fortran_order")) {
      skip_ws(c);
      if (c->end - c->p >= 5 && !memcmp(c->p, "False", 5)) {
        c->p += 5;
      } else if (c->end - c->p >= 4 && !memcmp(c->p, "True", 4)) {
        rt_set_error("%s: the array is in Fortran order; save it in C order (numpy.ascontiguousarray)", path);
        return -1;
      } else {
        return header_error(path, "'fortran_order' must be True or False");
      }
      have_order = 1;
    } else if (!strcmp(key, "shape")) {
      if (!eat(c, '(')) return header_error(path, "'shape' must be a tuple");
      *rank = 0;
      while (!eat(c, ')')) {
        skip_ws(c);
        int64_t d = 0;
        const char *start = c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
          if (d > (INT64_MAX - 9) / 10) return header_error(path, "a dimension is too large");
          d = d * 10 + (*c->p++ - '0');
        }
        if (c->p == start) return header_error(path, "a dimension is not a non-negative integer");
        if (*rank == DLC_MAX_RANK) {
          rt_set_error("%s: the array has more than %d dimensions", path, DLC_MAX_RANK);
          return -1;
        }
        shape[(*rank)++] = d;
        if (!eat(c, ',')) {
          if (!eat(c, ')')) return header_error(path, "expected ',' or ')' in 'shape'");
          break;
        }
      }
      have_shape = 1;
    } else {
      rt_set_error("%s: malformed .npy header: unexpected key '%s'", path, key);
      return -1;
    }
    if (!eat(c, ',')) {
      if (!eat(c, '}')) return header_error(path, "expected ',' or '}'");
      break;
    }
  }
  if (!have_descr || !have_order || !have_shape)
    return header_error(path, "it needs 'descr', 'fortran_order' and 'shape'");
  return 0;
}

int rt_npy_load(const char *path, dlc_tensor *out) {
  memset(out, 0, sizeof *out);
  char *buf;
  size_t len;
  if (rt_read_file(path, &buf, &len) != 0) return -1;
  const unsigned char *u = (const unsigned char *)buf;
  if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
    rt_set_error("%s: not a .npy file (no \\x93NUMPY magic)", path);
    free(buf);
    return -1;
  }
  size_t hlen, hstart;
  if (u[6] == 1) {
    hlen = (size_t)u[8] | (size_t)u[9] << 8;
    hstart = 10;
  } else if ((u[6] == 2 || u[6] == 3) && len >= 12) {
    hlen = (size_t)u[8] | (size_t)u[9] << 8 | (size_t)u[10] << 16 | (size_t)u[11] << 24;
    hstart = 12;
  } else {
    rt_set_error("%s: unsupported .npy format version %d.%d", path, u[6], u[7]);
    free(buf);
    return -1;
  }
  if (hlen > len - hstart) {
    rt_set_error("%s: truncated .npy file (header of %zu bytes, file of %zu)", path, hlen, len);
    free(buf);
    return -1;
  }
  cursor c = {buf + hstart, buf + hstart + hlen};
  int dtype = -1, rank = 0;
  int64_t shape[DLC_MAX_RANK] = {0};
  if (parse_header(path, &c, &dtype, &rank, shape) != 0) {
    free(buf);
    return -1;
  }
  int64_t n = rt_numel(rank, shape);
  size_t es = rt_dtype_size(dtype);
  size_t data_off = hstart + hlen;
  if (n < 0 || (uint64_t)n > (len - data_off) / es + 1) {
    rt_set_error("%s: the shape is too large for the file", path);
    free(buf);
    return -1;
  }
  size_t bytes = (size_t)n * es;
  if (len - data_off != bytes) {
    rt_set_error("%s: expected %zu bytes of data for shape %s, the file has %zu", path, bytes,
                 rt_shape_str(rank, shape, (char[128]){0}, 128), len - data_off);
    free(buf);
    return -1;
  }
  void *data = malloc(bytes ? bytes : 1);
  if (!data) {
    rt_set_error("%s: out of memory", path);
    free(buf);
    return -1;
  }
  memcpy(data, buf + data_off, bytes);
  free(buf);
  out->dtype = dtype;
  out->rank = rank;
  memcpy(out->shape, shape, sizeof shape);
  out->data = data;
  return 0;
}

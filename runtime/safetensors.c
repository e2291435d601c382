/* safetensors: an 8-byte little-endian header length N, N bytes of JSON
 *   {"__metadata__": {"key": "value", ...},
 *    "w": {"dtype": "F32", "shape": [2, 1], "data_offsets": [0, 8]}, ...}
 * padded with spaces to a multiple of 8, then the tensors' bytes (offsets relative to
 * the end of the header). As in the reference writer, tensors are laid out by falling
 * alignment then by name, so each starts aligned to its element size.
 * Saving goes through rt_atomic_* (write "<path>.tmp", then rename); loading parses and
 * checks the whole header up front and reads tensor data on demand. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the runtime reads and writes little-endian files by copying memory; port safetensors.c first"
#endif

#define ST_MAX_HEADER 100000000u /* the reference implementation's limit */

static const char *st_dtype_name(int dtype) {
  switch (dtype) {
  case DLC_F32: return "F32";
  case DLC_F64: return "F64";
  case DLC_I32: return "I32";
  case DLC_I64: return "I64";
  case DLC_BOOL: return "BOOL";
  default: return NULL;
  }
}

/* ---- writing -------------------------------------------------------------------- */

typedef struct {
  char *s;
  size_t len, cap;
  int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > cap) cap *= 2;
    char *ns = realloc(b->s, cap);
    if (!ns) {
      b->oom = 1;
      return;
    }
    b->s = ns;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void sb_str(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt(strbuf *b, const char *fmt, long long v) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, fmt, v);
  sb_put(b, tmp, (size_t)n);
}

/* A JSON string literal: quotes, backslashes and control characters escaped; other bytes
 * (UTF-8 included) as they are. */
static void sb_json_str(strbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      char esc[2] = {'\\', (char)*p};
      sb_put(b, esc, 2);
    } else if (*p < 0x20) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\u%04x", *p);
      sb_put(b, esc, 6);
    } else {
      sb_put(b, (const char *)p, 1);
    }
  }
  sb_put(b, "\"", 1);
}

/* Falling element size, then name: every tensor starts aligned to its element size. */
static int before(const dlc_tensor *x, const dlc_tensor *y) {
  size_t sx = rt_dtype_size(x->dtype), sy = rt_dtype_size(y->dtype);
  if (sx != sy) return sx > sy;
  return strcmp(x->name, y->name) < 0;
}

int rt_st_save(const char *path, const dlc_tensor *tensors, int ntensors, const rt_meta *meta, int nmeta) {
  for (int i = 0; i < ntensors; i++) {
    const dlc_tensor *t = &tensors[i];
    if (!t->name || !*t->name || !strcmp(t->name, "__metadata__")) {
      rt_set_error("%s: tensor %d has no usable name", path, i);
      return -1;
    }
    int64_t n = rt_numel(t->rank, t->shape);
    if (n < 0 || !st_dtype_name(t->dtype)) {
      rt_set_error("%s: tensor '%s' has an invalid dtype or shape", path, t->name);
      return -1;
    }
    if (n > 0 && !t->data) {
      rt_set_error("%s: tensor '%s' has no data", path, t->name);
      return -1;
    }
    for (int j = 0; j < i; j++)
      if (!strcmp(tensors[j].name, t->name)) {
        rt_set_error("%s: two tensors are called '%s'", path, t->name);
        return -1;
      }
  }
  for (int i = 0; i < nmeta; i++)
    if (!meta[i].key || !meta[i].value) {
      rt_set_error("%s: metadata entry %d has no key or no value", path, i);
      return -1;
    }

  int *order = malloc(sizeof(int) * (size_t)(ntensors ? ntensors : 1));
  if (!order) {
    rt_set_error("%s: out of memory", path);
    return -1;
  }
  for (int i = 0; i < ntensors; i++) order[i] = i;
  for (int i = 1; i < ntensors; i++) /* insertion sort: qsort has no context in C17 */
    for (int j = i; j > 0 && before(&tensors[order[j]], &tensors[order[j - 1]]); j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }

  strbuf h = {0};
  sb_str(&h, "{");
  int first = 1;
  if (nmeta > 0) {
    sb_str(&h, "\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
      if (i) sb_str(&h, ",");
      sb_json_str(&h, meta[i].key);
      sb_str(&h, ":");
      sb_json_str(&h, meta[i].value);
    }
    sb_str(&h, "}");
    first = 0;
  }
  uint64_t offset = 0;
  for (int k = 0; k < ntensors; k++) {
    const dlc_tensor *t = &tensors[order[k]];
    uint64_t bytes = (uint64_t)rt_numel(t->rank, t->shape) * rt_dtype_size(t->dtype);
    if (!first) sb_str(&h, ",");
    first = 0;
    sb_json_str(&h, t->name);
    sb_str(&h, ":{\"dtype\":\"");
    sb_str(&h, st_dtype_name(t->dtype));
    sb_str(&h, "\",\"shape\":[");
    for (int d = 0; d < t->rank; d++) sb_fmt(&h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    sb_str(&h, "],\"data_offsets\":[");
    sb_fmt(&h, "%lld", (long long)offset);
    sb_fmt(&h, ",%lld", (long long)(offset + bytes));
    sb_str(&h, "]}");
    offset += bytes;
  }
  sb_str(&h, "}");
  while (!h.oom && h.len % 8 != 0) sb_str(&h, " ");
  if (h.oom) {
    free(h.s);
    free(order);
    rt_set_error("%s: out of memory", path);
    return -1;
  }

  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
  rt_atomic_file f;
  int rc = rt_atomic_open(&f, path);
  if (rc == 0) {
    rt_atomic_write(&f, len8, 8);
    rt_atomic_write(&f, h.s, h.len);
    for (int k = 0; k < ntensors; k++) {
      const dlc_tensor *t = &tensors[order[k]];
      rt_atomic_write(&f, t->data, (size_t)rt_numel(t->rank, t->shape) * rt_dtype_size(t->dtype));
    }
    rc = rt_atomic_commit(&f);
  }
  free(h.s);
  free(order);
  return rc;
}

/* ---- reading: a small JSON parser for the header -------------------------------- */

typedef struct {
  char *name;
  int dtype;
  int rank;
  int64_t shape[DLC_MAX_RANK];
  uint64_t begin, end;
} st_entry;

struct rt_st_file {
  FILE *fp;
  char *path;
  uint64_t data_start, data_len;
  st_entry *t;
  int n, cap;
  rt_meta *meta;
  int nmeta, meta_cap;
};

typedef struct {
  const char *p, *end, *start;
  const char *path;
} jcur;

static int jerr(jcur *c, const char *what) {
  rt_set_error("%s: malformed safetensors header at byte %lld: %s", c->path, (long long)(c->p - c->start), what);
  return -1;
}

static void jws(jcur *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int jeat(jcur *c, char ch) {
  jws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return 1;
  }
  return 0;
}

static void put_utf8(char *out, size_t *n, uint32_t cp) {
  if (cp < 0x80) {
    out[(*n)++] = (char)cp;
  } else if (cp < 0x800) {
    out[(*n)++] = (char)(0xC0 | cp >> 6);
    out[(*n)++] = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out[(*n)++] = (char)(0xE0 | cp >> 12);
    out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[(*n)++] = (char)(0x80 | (cp & 0x3F));
  } else {
    out[(*n)++] = (char)(0xF0 | cp >> 18);
    out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[(*n)++] = (char)(0x80 | (cp & 0x3F));
  }
}

static int hex4(jcur *c, uint32_t *v) {
  if (c->end - c->p < 4) return -1;
  *v = 0;
  for (int i = 0; i < 4; i++) {
    char h = *c->p++;
    int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
    if (d < 0) return -1;
    *v = *v << 4 | (uint32_t)d;
  }
  return 0;
}

/* A JSON string, unescaped into a malloc'd UTF-8 string (an escaped NUL is refused). */
static int jstring(jcur *c, char **out) {
  jws(c);
  if (c->p >= c->end || *c->p != '"') return jerr(c, "expected a string");
  c->p++;
  const char *s = c->p;
  while (c->p < c->end && *c->p != '"') c->p += *c->p == '\\' ? 2 : 1;
  if (c->p >= c->end) return jerr(c, "unterminated string");
  char *r = malloc((size_t)(c->p - s) + 1); /* escapes never grow */
  if (!r) return jerr(c, "out of memory");
  const char *stop = c->p;
  c->p = s;
  size_t n = 0;
  while (c->p < stop) {
    char ch = *c->p++;
    if ((unsigned char)ch < 0x20) {
      free(r);
      return jerr(c, "control character in a string");
    }
    if (ch != '\\') {
      r[n++] = ch;
      continue;
    }
    char e = *c->p++;
    switch (e) {
    case '"': r[n++] = '"'; break;
    case '\\': r[n++] = '\\'; break;
    case '/': r[n++] = '/'; break;
    case 'b': r[n++] = '\b'; break;
    case 'f': r[n++] = '\f'; break;
    case 'n': r[n++] = '\n'; break;
    case 'r': r[n++] = '\r'; break;
    case 't': r[n++] = '\t'; break;
    case 'u': {
      uint32_t cp, lo;
      if (hex4(c, &cp) != 0) goto bad;
      if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair */
        if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u') goto bad;
        c->p += 2;
        if (hex4(c, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) goto bad;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else if (cp >= 0xDC00 && cp < 0xE000) {
        goto bad;
      }
      if (cp == 0) goto bad;
      put_utf8(r, &n, cp);
      break;
    }
    default: goto bad;
    }
  }
  c->p = stop + 1;
  r[n] = '\0';
  *out = r;
  return 0;
bad:
  free(r);
  return jerr(c, "bad escape in a string");
}

static int juint(jcur *c, uint64_t *v) {
  jws(c);
  const char *s = c->p;
  *v = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    if (*v > (UINT64_MAX - 9) / 10) return jerr(c, "number too large");
    *v = *v * 10 + (uint64_t)(*c->p++ - '0');
  }
  if (c->p == s) return jerr(c, "expected a non-negative integer");
  if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E')) return jerr(c, "expected an integer");
  return 0;
}

/* Skips any JSON value (fields this reader does not know). */
static int jskip(jcur *c, int depth) {
  if (depth > 32) return jerr(c, "nested too deeply");
  jws(c);
  if (c->p >= c->end) return jerr(c, "unexpected end");
  char ch = *c->p;
  if (ch == '"') {
    char *s;
    if (jstring(c, &s) != 0) return -1;
    free(s);
    return 0;
  }
  if (ch == '{' || ch == '[') {
    char close = ch == '{' ? '}' : ']';
    c->p++;
    if (jeat(c, close)) return 0;
    do {
      if (ch == '{') {
        char *k;
        if (jstring(c, &k) != 0) return -1;
        free(k);
        if (!jeat(c, ':')) return jerr(c, "expected ':'");
      }
      if (jskip(c, depth + 1) != 0) return -1;
    } while (jeat(c, ','));
    return jeat(c, close) ? 0 : jerr(c, "expected ',' or a closing bracket");
  }
  const char *s = c->p;
  while (c->p < c->end && (strchr("+-.eE", *c->p) || (*c->p >= '0' && *c->p <= '9') ||
                           (*c->p >= 'a' && *c->p <= 'z')))
    c->p++;
  return c->p > s ? 0 : jerr(c, "expected a value");
}

static int parse_tensor(jcur *c, st_entry *e) {
  int have_dtype = 0, have_shape = 0, have_offsets = 0;
  if (!jeat(c, '{')) return jerr(c, "expected '{' for a tensor");
  if (jeat(c, '}')) return jerr(c, "empty tensor entry");
  do {
    char *key;
    if (jstring(c, &key) != 0) return -1;
    if (!jeat(c, ':')) {
      free(key);
      return jerr(c, "expected ':'");
    }
    int rc = 0;
    /* One value per key: a second "shape" would leave the first one's extra dimensions. */
    if ((!strcmp(key, "dtype") && have_dtype) || (!strcmp(key, "shape") && have_shape) ||
        (!strcmp(key, "data_offsets") && have_offsets)) {
      rt_set_error("%s: tensor '%s': \"%s\" appears twice", c->path, e->name, key);
      free(key);
      return -1;
    }
    if (!strcmp(key, "dtype")) {
      char *d;
      if ((rc = jstring(c, &d)) == 0) {
        static const int all[] = {DLC_F32, DLC_F64, DLC_I32, DLC_I64, DLC_BOOL};
        e->dtype = -1;
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
          if (!strcmp(d, st_dtype_name(all[i]))) e->dtype = all[i];
        if (e->dtype < 0) {
          rt_set_error("%s: tensor '%s' has dtype %s, which dlc does not support (F32, F64, I32, I64, BOOL)",
                       c->path, e->name, d);
          rc = -1;
        }
        free(d);
        have_dtype = 1;
      }
    } else if (!strcmp(key, "shape")) {
      if (!jeat(c, '[')) rc = jerr(c, "'shape' must be an array");
      e->rank = 0;
      if (rc == 0 && !jeat(c, ']')) {
        do {
          uint64_t d;
          if (e->rank == DLC_MAX_RANK) {
            rt_set_error("%s: tensor '%s' has more than %d dimensions", c->path, e->name, DLC_MAX_RANK);
            rc = -1;
          } else if ((rc = juint(c, &d)) == 0) {
            if (d > INT64_MAX) rc = jerr(c, "dimension too large");
            e->shape[e->rank++] = (int64_t)d;
          }
        } while (rc == 0 && jeat(c, ','));
        if (rc == 0 && !jeat(c, ']')) rc = jerr(c, "expected ',' or ']' in 'shape'");
      }
      have_shape = 1;
    } else if (!strcmp(key, "data_offsets")) {
      if (!jeat(c, '[')) rc = jerr(c, "'data_offsets' must be [begin, end]");
      else if (juint(c, &e->begin) != 0) rc = -1;
      else if (!jeat(c, ',')) rc = jerr(c, "'data_offsets' must be [begin, end]");
      else if (juint(c, &e->end) != 0) rc = -1;
      else if (!jeat(c, ']')) rc = jerr(c, "'data_offsets' must be [begin, end]");
      have_offsets = 1;
    } else {
      rc = jskip(c, 1);
    }
    free(key);
    if (rc != 0) return -1;
  } while (jeat(c, ','));
  if (!jeat(c, '}')) return jerr(c, "expected ',' or '}' in a tensor entry");
  if (!have_dtype || !have_shape || !have_offsets) {
    rt_set_error("%s: tensor '%s' needs 'dtype', 'shape' and 'data_offsets'", c->path, e->name);
    return -1;
  }
  return 0;
}

static int parse_metadata(jcur *c, rt_st_file *f) {
  if (!jeat(c, '{')) return jerr(c, "'__metadata__' must be an object of strings");
  if (jeat(c, '}')) return 0;
  do {
    char *k = NULL, *v = NULL;
    if (jstring(c, &k) != 0) return -1;
    if (!jeat(c, ':')) {
      free(k);
      return jerr(c, "expected ':' in '__metadata__'");
    }
    jws(c);
    if (c->p < c->end && *c->p != '"') {
      free(k);
      return jerr(c, "'__metadata__' values must be strings");
    }
    if (jstring(c, &v) != 0) {
      free(k);
      return -1;
    }
    if (f->nmeta == f->meta_cap) {
      int cap = f->meta_cap ? f->meta_cap * 2 : 8;
      rt_meta *nm = realloc(f->meta, (size_t)cap * sizeof *nm);
      if (!nm) {
        free(k);
        free(v);
        return jerr(c, "out of memory");
      }
      f->meta = nm;
      f->meta_cap = cap;
    }
    f->meta[f->nmeta++] = (rt_meta){k, v};
  } while (jeat(c, ','));
  return jeat(c, '}') ? 0 : jerr(c, "expected ',' or '}' in '__metadata__'");
}

static int by_begin(const void *a, const void *b) {
  const st_entry *x = a, *y = b;
  return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int parse_header(jcur *c, rt_st_file *f) {
  if (!jeat(c, '{')) return jerr(c, "expected '{'");
  if (!jeat(c, '}')) {
    do {
      char *key;
      if (jstring(c, &key) != 0) return -1;
      if (!jeat(c, ':')) {
        free(key);
        return jerr(c, "expected ':'");
      }
      if (!strcmp(key, "__metadata__")) {
        free(key);
        if (parse_metadata(c, f) != 0) return -1;
        continue;
      }
      for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, key)) {
          rt_set_error("%s: tensor '%s' appears twice", f->path, key);
          free(key);
          return -1;
        }
      if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 16;
        st_entry *nt = realloc(f->t, (size_t)cap * sizeof *nt);
        if (!nt) {
          free(key);
          return jerr(c, "out of memory");
        }
        f->t = nt;
        f->cap = cap;
      }
      st_entry *e = &f->t[f->n++];
      memset(e, 0, sizeof *e);
      e->name = key;
      if (parse_tensor(c, e) != 0) return -1;
    } while (jeat(c, ','));
    if (!jeat(c, '}')) return jerr(c, "expected ',' or '}'");
  }
  jws(c);
  if (c->p != c->end) return jerr(c, "unexpected text after the header object");

  /* Every tensor's bytes must fit its dtype and shape, lie inside the data, and not overlap. */
  for (int i = 0; i < f->n; i++) {
    st_entry *e = &f->t[i];
    int64_t n = rt_numel(e->rank, e->shape);
    char sh[128];
    if (n < 0 || e->end < e->begin || e->end - e->begin != (uint64_t)n * rt_dtype_size(e->dtype)) {
      rt_set_error("%s: tensor '%s': data_offsets [%llu, %llu] do not fit %s %s", f->path, e->name,
                   (unsigned long long)e->begin, (unsigned long long)e->end, st_dtype_name(e->dtype),
                   rt_shape_str(e->rank, e->shape, sh, sizeof sh));
      return -1;
    }
    if (e->end > f->data_len) {
      rt_set_error("%s: tensor '%s' ends at byte %llu but the file holds %llu bytes of data (truncated?)",
                   f->path, e->name, (unsigned long long)e->end, (unsigned long long)f->data_len);
      return -1;
    }
  }
  st_entry *sorted = malloc(sizeof *sorted * (size_t)(f->n ? f->n : 1));
  if (!sorted) return jerr(c, "out of memory");
  if (f->n) memcpy(sorted, f->t, sizeof *sorted * (size_t)f->n);
  qsort(sorted, (size_t)f->n, sizeof *sorted, by_begin);
  int last = -1; /* the non-empty tensor reaching furthest so far */
  for (int i = 0; i < f->n; i++) {
    if (sorted[i].end == sorted[i].begin) continue;
    if (last >= 0 && sorted[i].begin < sorted[last].end) {
      rt_set_error("%s: tensors '%s' and '%s' overlap", f->path, sorted[last].name, sorted[i].name);
      free(sorted);
      return -1;
    }
    if (last < 0 || sorted[i].end > sorted[last].end) last = i;
  }
  free(sorted);
  return 0;
}

int rt_st_open(const char *path, rt_st_file **out) {
  *out = NULL;
  rt_st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = malloc(strlen(path) + 1))) {
    free(f);
    rt_set_error("%s: out of memory", path);
    return -1;
  }
  strcpy(f->path, path);
  char *header = NULL;
  f->fp = fopen(path, "rb");
  if (!f->fp) {
    rt_set_error("%s: cannot open: %s", path, strerror(errno));
    goto fail;
  }
  unsigned char len8[8];
  if (fseek(f->fp, 0, SEEK_END) != 0) {
    rt_set_error("%s: cannot read: %s", path, strerror(errno));
    goto fail;
  }
  long size = ftell(f->fp);
  rewind(f->fp);
  if (size < 8 || fread(len8, 1, 8, f->fp) != 8) {
    rt_set_error("%s: not a safetensors file (shorter than 8 bytes)", path);
    goto fail;
  }
  uint64_t hlen = 0;
  for (int i = 0; i < 8; i++) hlen |= (uint64_t)len8[i] << (8 * i);
  if (hlen > ST_MAX_HEADER || hlen > (uint64_t)size - 8) {
    rt_set_error("%s: not a safetensors file (header length %llu, file size %ld)", path,
                 (unsigned long long)hlen, size);
    goto fail;
  }
  header = malloc(hlen + 1);
  if (!header || fread(header, 1, hlen, f->fp) != hlen) {
    rt_set_error("%s: cannot read the header", path);
    goto fail;
  }
  header[hlen] = '\0';
  if (hlen == 0 || header[0] != '{') {
    rt_set_error("%s: not a safetensors file (the header does not start with '{')", path);
    goto fail;
  }
  f->data_start = 8 + hlen;
  f->data_len = (uint64_t)size - f->data_start;
  jcur c = {header, header + hlen, header, path};
  if (parse_header(&c, f) != 0) goto fail;
  free(header);
  *out = f;
  return 0;
fail:
  free(header);
  rt_st_close(f);
  return -1;
}

void rt_st_close(rt_st_file *f) {
  if (!f) return;
  if (f->fp) fclose(f->fp);
  for (int i = 0; i < f->n; i++) free(f->t[i].name);
  for (int i = 0; i < f->nmeta; i++) {
    free((char *)f->meta[i].key);
    free((char *)f->meta[i].value);
  }
  free(f->t);
  free(f->meta);
  free(f->path);
  free(f);
}

int rt_st_count(const rt_st_file *f) { return f->n; }

int rt_st_info(const rt_st_file *f, int i, dlc_tensor *out) {
  if (i < 0 || i >= f->n) {
    rt_set_error("%s: no tensor %d (the file has %d)", f->path, i, f->n);
    return -1;
  }
  const st_entry *e = &f->t[i];
  memset(out, 0, sizeof *out);
  out->name = e->name;
  out->dtype = e->dtype;
  out->rank = e->rank;
  memcpy(out->shape, e->shape, sizeof e->shape);
  return 0;
}

int rt_st_find(const rt_st_file *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (!strcmp(f->t[i].name, name)) return i;
  return -1;
}

int rt_st_read(rt_st_file *f, int i, void *dst, size_t bytes) {
  if (i < 0 || i >= f->n) {
    rt_set_error("%s: no tensor %d (the file has %d)", f->path, i, f->n);
    return -1;
  }
  const st_entry *e = &f->t[i];
  if (bytes != e->end - e->begin) {
    rt_set_error("%s: tensor '%s' holds %llu bytes, not %zu", f->path, e->name,
                 (unsigned long long)(e->end - e->begin), bytes);
    return -1;
  }
  if (bytes == 0) return 0;
  if (fseek(f->fp, (long)(f->data_start + e->begin), SEEK_SET) != 0 || fread(dst, 1, bytes, f->fp) != bytes) {
    rt_set_error("%s: cannot read tensor '%s'", f->path, e->name);
    return -1;
  }
  return 0;
}

int rt_st_meta_count(const rt_st_file *f) { return f->nmeta; }

rt_meta rt_st_meta_at(const rt_st_file *f, int i) {
  if (i < 0 || i >= f->nmeta) return (rt_meta){NULL, NULL};
  return f->meta[i];
}

const char *rt_st_meta_get(const rt_st_file *f, const char *key) {
  for (int i = 0; i < f->nmeta; i++)
    if (!strcmp(f->meta[i].key, key)) return f->meta[i].value;
  return NULL;
}

static int load_into(rt_st_file *f, const dlc_tensor *expected, int n, bool exact) {
  char diff[RT_ERR_MAX];
  size_t used = 0;
  int ndiff = 0;
  diff[0] = '\0';
#define DIFF(...)                                                                        \
  do {                                                                                   \
    if (used < sizeof diff) {                                                            \
      int k_ = snprintf(diff + used, sizeof diff - used, "%s", ndiff ? "; " : "");      \
      if (k_ > 0) used += (size_t)k_;                                                    \
    }                                                                                    \
    if (used < sizeof diff) {                                                            \
      int k_ = snprintf(diff + used, sizeof diff - used, __VA_ARGS__);                  \
      if (k_ > 0) used += (size_t)k_;                                                    \
    }                                                                                    \
    ndiff++;                                                                             \
  } while (0)
  for (int i = 0; i < n; i++) {
    const dlc_tensor *x = &expected[i];
    int j = rt_st_find(f, x->name);
    if (j < 0) {
      DIFF("missing tensor '%s'", x->name);
      continue;
    }
    const st_entry *e = &f->t[j];
    char a[128], b[128];
    if (e->dtype != x->dtype)
      DIFF("tensor '%s' is %s in the file but %s in the model", x->name, st_dtype_name(e->dtype),
           st_dtype_name(x->dtype) ? st_dtype_name(x->dtype) : "?");
    if (e->rank != x->rank || memcmp(e->shape, x->shape, sizeof(int64_t) * (size_t)e->rank) != 0)
      DIFF("tensor '%s' has shape %s in the file but %s in the model", x->name,
           rt_shape_str(e->rank, e->shape, a, sizeof a), rt_shape_str(x->rank, x->shape, b, sizeof b));
  }
  for (int j = 0; exact && j < f->n; j++) {
    int known = 0;
    for (int i = 0; i < n && !known; i++) known = !strcmp(expected[i].name, f->t[j].name);
    if (!known) DIFF("unexpected tensor '%s'", f->t[j].name);
  }
#undef DIFF
  if (ndiff) {
    rt_set_error("%s does not match the model: %s", f->path, diff);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    const dlc_tensor *x = &expected[i];
    size_t bytes = (size_t)rt_numel(x->rank, x->shape) * rt_dtype_size(x->dtype);
    if (rt_st_read(f, rt_st_find(f, x->name), x->data, bytes) != 0) return -1;
  }
  return 0;
}

int rt_st_load_into(rt_st_file *f, const dlc_tensor *expected, int n) { return load_into(f, expected, n, true); }

int rt_st_load_some(rt_st_file *f, const dlc_tensor *expected, int n) { return load_into(f, expected, n, false); }

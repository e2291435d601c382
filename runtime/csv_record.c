/* CSV records as field spans: the one tokenizer that the strict numeric reader (csv.c),
 * the data preparation (prep.c) and `dlc inspect` (inspect.c) share.
 *
 * A record's fields point into the reader's bytes and stay valid until the next call.
 * Over bytes in memory the whole file is one span. Over a file the bytes come in
 * chunks, so a file of any size is read in bounded memory: a record is parsed from the
 * start of the chunk's unread part; when it runs into the chunk's end before the file's
 * end, the unread part moves to the front of the buffer, more bytes are read (the
 * buffer grows only for a record longer than itself), and the record is parsed again
 * from its start, with the line count it had there. Every record ends with a line end
 * or the end of the file, so a record that stops short of the chunk's end is complete.
 *
 * Accepted: ',' separators; LF, CRLF or CR line ends; spaces and tabs around fields;
 * quoted fields ("..." with "" for a quote, line ends allowed inside); blank lines
 * (skipped); a UTF-8 byte-order mark. Refused: a NUL byte in a field. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

enum { NEED_MORE = 2 };
#define CHUNK (64 * 1024)

static int is_space(char c) { return c == ' ' || c == '\t'; }

static int push_field(rt_csv_reader *r, rt_csv_field f) {
  if (r->nfields == r->fcap) {
    int cap = r->fcap ? r->fcap * 2 : 16;
    rt_csv_field *nf = realloc(r->fields, (size_t)cap * sizeof *nf);
    if (!nf) {
      rt_set_error("%s: out of memory", r->name);
      return -1;
    }
    r->fields = nf;
    r->fcap = cap;
  }
  r->fields[r->nfields++] = f;
  return 0;
}

static void new_line(rt_csv_reader *r, const char *next) {
  r->line++;
  r->line_start = next;
}

/* Consumes a line end at r->p (LF, CRLF or CR). */
static void eat_line_end(rt_csv_reader *r) {
  if (r->p < r->end && *r->p == '\r') r->p++;
  if (r->p < r->end && *r->p == '\n') r->p++;
  new_line(r, r->p);
}

/* A NUL byte in a field: refused, as every reader keeps fields (column names, categories)
 * as C strings, which would end there and make distinct values equal. */
static int nul_error(const rt_csv_reader *r, const char *p) {
  rt_set_error("%s:%lld:%lld: a NUL byte in a field (a CSV file is text)", r->name, (long long)r->line,
               (long long)(p - r->line_start) + 1);
  return -1;
}

/* Parses the next non-blank record: 1, 0 at the end, -1 on error, NEED_MORE when it ran
 * into the end of the bytes at hand and the file has more. */
static int parse_record(rt_csv_reader *r) {
  r->nfields = 0;
  for (;;) { /* skip blank lines */
    const char *q = r->p;
    while (q < r->end && is_space(*q)) q++;
    if (q == r->end) return r->eof ? 0 : NEED_MORE;
    if (*q != '\n' && *q != '\r') break;
    r->p = q;
    eat_line_end(r);
  }
  r->rec_line = r->line;
  for (;;) {
    const char *p = r->p;
    while (p < r->end && is_space(*p)) p++;
    rt_csv_field f = {.line = r->line, .col = (int64_t)(p - r->line_start) + 1};
    if (p < r->end && *p == '"') {
      p++;
      f.text = p;
      f.quoted = 1;
      for (;;) {
        if (p == r->end) {
          if (!r->eof) return NEED_MORE;
          rt_set_error("%s:%lld:%lld: unterminated quoted field", r->name, (long long)f.line, (long long)f.col);
          return -1;
        }
        if (*p == '"') {
          if (p + 1 < r->end && p[1] == '"') {
            p += 2;
            continue;
          }
          break;
        }
        if (*p == '\0') return nul_error(r, p);
        if (*p == '\n' || (*p == '\r' && (p + 1 == r->end || p[1] != '\n'))) new_line(r, p + 1);
        p++;
      }
      f.len = (size_t)(p - f.text);
      p++;
      while (p < r->end && is_space(*p)) p++;
      if (p < r->end && *p != ',' && *p != '\n' && *p != '\r') {
        rt_set_error("%s:%lld:%lld: unexpected '%c' after a closing quote", r->name, (long long)r->line,
                     (long long)(p - r->line_start) + 1, *p);
        return -1;
      }
    } else {
      f.text = p;
      while (p < r->end && *p != ',' && *p != '\n' && *p != '\r' && *p != '\0') p++;
      if (p < r->end && *p == '\0') return nul_error(r, p);
      const char *e = p;
      while (e > f.text && is_space(e[-1])) e--;
      f.len = (size_t)(e - f.text);
    }
    if (push_field(r, f) != 0) return -1;
    r->p = p;
    if (p < r->end && *p == ',') {
      r->p = p + 1;
      continue;
    }
    r->end_col = (int64_t)(p - r->line_start) + 1;
    if (p < r->end) eat_line_end(r);
    /* Touching the end of a chunk leaves the record (or its CRLF) possibly cut. */
    return r->p == r->end && !r->eof ? NEED_MORE : 1;
  }
}

static void skip_bom(rt_csv_reader *r) {
  if (r->end - r->p >= 3 && !memcmp(r->p, "\xEF\xBB\xBF", 3)) r->p = r->line_start = r->p + 3;
}

void rt_csv_reader_init(rt_csv_reader *r, const char *name, const char *data, size_t len) {
  memset(r, 0, sizeof *r);
  r->name = name;
  r->p = r->line_start = data;
  r->end = data + len;
  r->eof = 1;
  r->line = 1;
  skip_bom(r);
}

/* Moves the unread bytes to the front and reads more; grows the buffer when the unread
 * part fills it. Sets eof at the file's end. */
static int refill(rt_csv_reader *r) {
  size_t keep = (size_t)(r->end - r->p);
  if (keep == r->cap) {
    size_t cap = r->cap * 2;
    char *nb = realloc(r->buf, cap);
    if (!nb) {
      rt_set_error("%s: out of memory (a record longer than %zu bytes)", r->name, r->cap);
      return -1;
    }
    r->buf = nb;
    r->cap = cap;
  } else if (keep && r->p != r->buf) {
    memmove(r->buf, r->p, keep);
  }
  /* A record is parsed from a line's start, so the line starts where it does. */
  r->p = r->line_start = r->buf;
  size_t got = fread(r->buf + keep, 1, r->cap - keep, (FILE *)r->fp);
  if (got == 0 && ferror((FILE *)r->fp)) {
    rt_set_error("%s: read error: %s", r->name, strerror(errno));
    return -1;
  }
  r->end = r->buf + keep + got;
  if (got == 0) r->eof = 1;
  return 0;
}

int rt_csv_reader_open(rt_csv_reader *r, const char *path) {
  memset(r, 0, sizeof *r);
  r->name = path;
  r->line = 1;
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    rt_set_error("%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  r->fp = fp;
  r->cap = CHUNK;
  if (!(r->buf = malloc(r->cap))) {
    rt_csv_reader_close(r);
    rt_set_error("%s: out of memory", path);
    return -1;
  }
  r->p = r->end = r->line_start = r->buf;
  if (refill(r)) {
    rt_csv_reader_close(r);
    return -1;
  }
  skip_bom(r);
  return 0;
}

int rt_csv_next(rt_csv_reader *r) {
  for (;;) {
    const char *start = r->p;
    int64_t line = r->line;
    int rc = parse_record(r);
    if (rc != NEED_MORE) return rc;
    r->p = start;
    r->line_start = start;
    r->line = line;
    if (refill(r)) return -1;
  }
}

void rt_csv_reader_close(rt_csv_reader *r) {
  if (r->fp) fclose((FILE *)r->fp);
  free(r->buf);
  free(r->fields);
  memset(r, 0, sizeof *r);
}

const char *rt_show_text(const char *text, size_t len, char *buf, size_t size) {
  size_t n = len < 40 ? len : 40, j = 0;
  for (size_t i = 0; i < n && j + 4 < size; i++) buf[j++] = (unsigned char)text[i] < 0x20 ? '?' : text[i];
  if (n < len) {
    memcpy(buf + j, "...", 3);
    j += 3;
  }
  buf[j] = '\0';
  return buf;
}

const char *rt_csv_show(const rt_csv_field *f, char *buf, size_t size) {
  buf[0] = '"';
  size_t j = 1 + strlen(rt_show_text(f->text, f->len, buf + 1, size - 2));
  buf[j++] = '"';
  buf[j] = '\0';
  return buf;
}

char *rt_csv_unquote(const rt_csv_field *f) {
  char *s = malloc(f->len + 1);
  if (!s) return NULL;
  size_t j = 0;
  for (size_t i = 0; i < f->len; i++) {
    s[j++] = f->text[i];
    if (f->quoted && f->text[i] == '"') i++; /* "" inside quotes is one quote */
  }
  s[j] = '\0';
  return s;
}

int rt_csv_is_missing(const rt_csv_field *f) {
  /* As pandas' read_csv: quoted or not, these are missing. */
  if (f->len == 0) return 1;
  if (f->len == 2) return (f->text[0] | 0x20) == 'n' && (f->text[1] | 0x20) == 'a';
  if (f->len == 3)
    return (f->text[0] | 0x20) == 'n' && (f->text[1] | 0x20) == 'a' && (f->text[2] | 0x20) == 'n';
  return 0;
}

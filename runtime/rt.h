/* The runtime's internal API, shared by the runtime's files and by the dlc driver:
 * error reporting, random numbers, parameter initialisers, strict number and CSV
 * reading, .npy and safetensors files, and model helpers beyond the public ABI.
 *
 * Every function that can fail returns 0 on success and -1 on failure, after filling
 * the thread-local message that dlc_last_error() returns. Nothing here prints or exits.
 * This header includes nothing of the compiler: the runtime is libc and libm only. */
#ifndef DLC_RT_H
#define DLC_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "dlc.h"

#if defined(__GNUC__)
#define RT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RT_PRINTF(f, a)
#endif

/* ---- errors (error.c) ----------------------------------------------------------- */

/* Room for one message; longer messages are cut, never overflowed. */
#define RT_ERR_MAX 1024

/* Replaces the thread's last error. */
void rt_set_error(const char *fmt, ...) RT_PRINTF(1, 2);
void rt_set_errorv(const char *fmt, va_list ap);
/* Puts context in front of the current message: "parameter 'w': " + old message. */
void rt_prefix_error(const char *fmt, ...) RT_PRINTF(1, 2);
void rt_clear_error(void);

/* The candidate closest to `name` for a "did you mean" hint (case-insensitive edit
 * distance), or NULL when none is close enough to be a plausible typo. */
const char *rt_closest_name(const char *name, const char *const *candidates, int n);

/* ---- memory (memory.c) ------------------------------------------------------------- */

/* `bytes` zeroed, 64-byte aligned; on huge pages when large (memory.c says why). free()
 * releases it. NULL when out of memory (no message set). */
void *rt_alloc_zeroed(size_t bytes);

/* Bytes of one element of a DLC_* dtype; 0 for an unknown dtype. */
size_t rt_dtype_size(int dtype);
/* "f32", "f64", "i32", "i64", "bool", or "?" */
const char *rt_dtype_name(int dtype);
/* Elements of a tensor, or -1 when the rank or a dimension is invalid or it overflows. */
int64_t rt_numel(int rank, const int64_t *shape);
/* "[3, 4]" into buf (size >= 2); returns buf. */
char *rt_shape_str(int rank, const int64_t *shape, char *buf, size_t size);

/* ---- random numbers (rng.c) ----------------------------------------------------- */

/* xoshiro256** seeded through splitmix64: small, fast, passes BigCrush, and gives the
 * same numbers on every platform (integer arithmetic only; normals use sqrt and log). */
typedef struct {
  uint64_t s[4];
  double spare;   /* second normal of the last polar pair */
  int has_spare;
} rt_rng;

/* One splitmix64 step: advances *state and returns the next output. */
uint64_t rt_splitmix64(uint64_t *state);
void rt_rng_seed(rt_rng *rng, uint64_t seed);
/* An independent stream per (seed, stream): e.g. one per parameter, one per rank. */
void rt_rng_seed_stream(rt_rng *rng, uint64_t seed, uint64_t stream);
uint64_t rt_rng_next(rt_rng *rng);
/* Uniform in [0, 1), 53 random bits. */
double rt_rng_uniform(rt_rng *rng);
/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint64_t rt_rng_below(rt_rng *rng, uint64_t n);
/* Standard normal (Marsaglia's polar method). */
double rt_rng_normal(rt_rng *rng);
/* Fisher-Yates shuffle of idx[0..n). */
void rt_rng_shuffle(rt_rng *rng, int64_t *idx, int64_t n);
/* idx = a uniformly random permutation of 0..n-1. */
void rt_rng_permutation(rt_rng *rng, int64_t *idx, int64_t n);
/* A stable 64-bit stream id for a name (FNV-1a), for per-parameter streams. */
uint64_t rt_stream_id(const char *name);

/* ---- numbers (number.c) --------------------------------------------------------- */

/* Parses exactly s[0..len) as a decimal number: [+-] digits [. digits] [(e|E) [+-] digits],
 * with digits on at least one side of the point (`1`, `-2.5`, `1e-3`, `.5`, `+3`, `5.`).
 * No spaces, no hex, no inf/nan. Correctly rounded, independent of the C locale.
 * Returns 0, or -1 (no error message is set: the caller knows the context). */
int rt_parse_number(const char *s, size_t len, double *out);

/* ---- initialisers (init.c) ------------------------------------------------------ */

typedef enum {
  RT_INIT_ZEROS,
  RT_INIT_ONES,
  RT_INIT_CONSTANT,        /* constant(value) */
  RT_INIT_UNIFORM,         /* uniform(a=0, b=1) */
  RT_INIT_NORMAL,          /* normal(mean=0, std=1) */
  RT_INIT_XAVIER_UNIFORM,  /* xavier_uniform(gain=1): U(-g*sqrt(6/(in+out)), +...) */
  RT_INIT_XAVIER_NORMAL,   /* xavier_normal(gain=1): N(0, g*sqrt(2/(in+out))) */
  RT_INIT_KAIMING_UNIFORM, /* kaiming_uniform(a=0, mode=fan_in): U(-sqrt(6/((1+a^2)fan)), +...) */
  RT_INIT_KAIMING_NORMAL,  /* kaiming_normal(a=0, mode=fan_in): N(0, sqrt(2/((1+a^2)fan))) */
  RT_INIT_COUNT
} rt_init_kind;

/* A parsed initialiser: its kind and its arguments, defaults filled in, in the order
 * the comments above give (kaiming's mode is 0 for fan_in, 1 for fan_out). */
typedef struct {
  rt_init_kind kind;
  double arg[3];
} rt_init_spec;

/* Parses "normal(0, 0.01)", "uniform(a=-1, b=1)", "kaiming_normal(mode=fan_out)", ...
 * On failure errbuf (RT_ERR_MAX bytes, may be NULL) and dlc_last_error() say why. */
int rt_init_parse(const char *spec, rt_init_spec *out, char *errbuf);
/* Whether spec is a valid initialiser: what the frontend checks at compile time. */
int rt_init_check(const char *spec, char *errbuf);
/* PyTorch's fans for dlc's layout [..., in, out]: fan_in = shape[rank-2] * receptive,
 * fan_out = shape[rank-1] * receptive, receptive = product of the leading dimensions;
 * rank 1: fan_in = fan_out = shape[0]; rank 0: 1. */
void rt_init_fans(int rank, const int64_t *shape, double *fan_in, double *fan_out);
/* Fills t (f32 or f64; i32/i64/bool only for zeros, ones and integral constants). */
int rt_init_fill(const rt_init_spec *spec, const dlc_tensor *t, rt_rng *rng);
/* Parse + fill from the stream (seed, rt_stream_id(t->name)); NULL spec means zeros. */
int rt_init_tensor(const char *spec, const dlc_tensor *t, uint64_t seed);

/* ---- files (file.c) ------------------------------------------------------------- */

/* The whole file in a malloc'd buffer with a NUL after its last byte. */
int rt_read_file(const char *path, char **data, size_t *len);

/* Crash-safe writing: bytes go to "<path>.tmp", which replaces path by rename() only
 * once everything is written and synced, so a failure never destroys the old file. */
typedef struct {
  void *fp;        /* FILE *, kept opaque to keep stdio out of this header */
  char *path;
  char *tmp_path;
  int failed;
} rt_atomic_file;
int rt_atomic_open(rt_atomic_file *f, const char *path);
int rt_atomic_write(rt_atomic_file *f, const void *data, size_t len);
/* Closes, syncs and renames; on any earlier failure removes the temporary file instead. */
int rt_atomic_commit(rt_atomic_file *f);
/* Gives up: removes the temporary file, leaves path as it was. */
void rt_atomic_abort(rt_atomic_file *f);

/* ---- CSV records (csv_record.c) ------------------------------------------------- */

/* One field of a record: a span of the reader's bytes, valid until the next record. */
typedef struct {
  const char *text; /* without quotes or surrounding spaces; "" stays doubled inside quotes */
  size_t len;
  int quoted;
  int64_t line, col; /* where the field starts, 1-based */
} rt_csv_field;

/* The tokenizer csv.c, prep.c and inspect.c share: records of ',' separated fields,
 * LF/CRLF/CR line ends, quoted fields ("" for a quote, line ends inside), blank lines
 * skipped, spaces around fields trimmed, a UTF-8 byte-order mark skipped. Over memory
 * (rt_csv_reader_init) or over a file read in 64 KiB chunks (rt_csv_reader_open), so
 * a file of any size streams in memory bounded by its longest record. */
typedef struct {
  const char *name;             /* the file, for messages */
  void *fp;                     /* FILE * when streaming, else NULL */
  char *buf;                    /* streaming: the chunk buffer */
  size_t cap;
  const char *p, *end;          /* unread bytes at hand */
  const char *line_start;
  int eof;                      /* no bytes beyond `end` */
  int64_t line;
  rt_csv_field *fields;         /* the current record */
  int nfields, fcap;
  int64_t rec_line;             /* where the current record starts */
  int64_t end_col;              /* and the column just after its last field */
} rt_csv_reader;

/* Over data[0..len), which must outlive the reader; `name` is what messages call it. */
void rt_csv_reader_init(rt_csv_reader *r, const char *name, const char *data, size_t len);
/* Over a file, streamed; `path` must outlive the reader. */
int rt_csv_reader_open(rt_csv_reader *r, const char *path);
/* The next non-blank record into r->fields: 1, 0 at the end, -1 on error (located). */
int rt_csv_next(rt_csv_reader *r);
void rt_csv_reader_close(rt_csv_reader *r);
/* Text for a message: cut at 40 bytes ("..." after them), control characters as '?'. */
const char *rt_show_text(const char *text, size_t len, char *buf, size_t size);
/* A field's text for a message: rt_show_text's, in quotes. */
const char *rt_csv_show(const rt_csv_field *f, char *buf, size_t size);
/* The field's text, unquoted, malloc'd (NULL when out of memory). */
char *rt_csv_unquote(const rt_csv_field *f);
/* Whether a field is a missing value: empty, NA or NaN in any case (quoted or not, as
 * pandas' read_csv reads them). */
int rt_csv_is_missing(const rt_csv_field *f);

/* ---- CSV (csv.c) ---------------------------------------------------------------- */

typedef struct {
  const char *const *features; /* column names, in output order; NULL: every column but the label */
  int nfeatures;
  const char *label;           /* label column, or NULL for none */
  int label_dtype;             /* DLC_F32 (values) or DLC_I32 (class indices >= 0) */
} rt_csv_options;

typedef struct {
  int64_t rows;
  int nfeatures;
  char **feature_names; /* [nfeatures] */
  float *x;             /* [rows, nfeatures], row-major */
  int label_dtype;
  void *y;              /* [rows] float or int32_t; NULL without a label */
  int32_t nclasses;     /* DLC_I32 labels: 1 + the largest label; else 0 */
} rt_csv_table;

/* Reads a CSV file with a header row. Errors name file, line, column and the text. */
int rt_csv_read(const char *path, const rt_csv_options *opt, rt_csv_table *out);
/* The same over bytes in memory; `name` is what error messages call the file. */
int rt_csv_parse(const char *name, const char *data, size_t len, const rt_csv_options *opt,
                 rt_csv_table *out);
void rt_csv_free(rt_csv_table *t);

/* ---- .npy (npy.c) --------------------------------------------------------------- */

/* Writes t (any DLC_* dtype, C order) as .npy format 1.0 (2.0 for a huge header). */
int rt_npy_save(const char *path, const dlc_tensor *t);
/* Reads a .npy file (format 1.0, 2.0 or 3.0, little-endian <f4 <f8 <i4 <i8 |b1, C order).
 * out->data is malloc'd (free() it); out->name is NULL. */
int rt_npy_load(const char *path, dlc_tensor *out);

/* ---- safetensors (safetensors.c) ------------------------------------------------ */

typedef struct {
  const char *key;
  const char *value;
} rt_meta;

/* Writes tensors (unique names) and string metadata, crash-safely (rt_atomic_*).
 * Data are laid out as the reference implementation does: by alignment, then name. */
int rt_st_save(const char *path, const dlc_tensor *tensors, int ntensors, const rt_meta *meta,
               int nmeta);

/* An open safetensors file: the header is parsed and checked, data are read on demand. */
typedef struct rt_st_file rt_st_file;
int rt_st_open(const char *path, rt_st_file **out);
void rt_st_close(rt_st_file *f);
int rt_st_count(const rt_st_file *f);
/* Name, dtype and shape of tensor i (data = NULL); the name lives as long as f. */
int rt_st_info(const rt_st_file *f, int i, dlc_tensor *out);
/* Index of the tensor called name, or -1. */
int rt_st_find(const rt_st_file *f, const char *name);
/* Copies tensor i's bytes into dst, which holds `bytes` (must be its exact size). */
int rt_st_read(rt_st_file *f, int i, void *dst, size_t bytes);
int rt_st_meta_count(const rt_st_file *f);
rt_meta rt_st_meta_at(const rt_st_file *f, int i);
/* The metadata value for key, or NULL. */
const char *rt_st_meta_get(const rt_st_file *f, const char *key);
/* Checks that f holds exactly the tensors of `expected` (names, dtypes, shapes) and
 * copies each into expected[i].data. The error lists every difference. */
int rt_st_load_into(rt_st_file *f, const dlc_tensor *expected, int n);
/* The same, but f may hold other tensors besides (a checkpoint's optimiser state, read
 * for its parameters only). */
int rt_st_load_some(rt_st_file *f, const dlc_tensor *expected, int n);

/* ---- models (model.c) ----------------------------------------------------------- */

const dlc_model_desc *rt_model_desc(const dlc_model *model);
int rt_model_num_state(const dlc_model *model);
int rt_model_state(const dlc_model *model, int index, dlc_tensor *out);
/* dlc_save with extra metadata (e.g. how the data were prepared). */
int rt_model_save(const dlc_model *model, const char *path, const rt_meta *meta, int nmeta);
/* dlc_load of the parameters alone: the file's other tensors (another optimiser's state)
 * are not read; the model's optimiser state is left as it was. */
int rt_model_load_params(dlc_model *model, const char *path);

#endif

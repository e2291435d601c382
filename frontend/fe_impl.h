/* What the frontend's files share and nobody else sees: the arena, source spans and
 * error reporting, tokens, the syntax tree, and the lowering context.
 *
 * Pipeline: lexer.c (text -> tokens) -> parser.c (tokens -> fe_program) -> lower.c
 * (statements, names, operators, user functions -> IR) with builtins.c (calls of the
 * built-in functions) and settings.c (initialisers, optimiser, training, data source). */
#ifndef DLC_FE_IMPL_H
#define DLC_FE_IMPL_H

#include "fe.h"

/* ---- arena: everything below lives until fe_compile returns ------------------------ */

typedef struct fe_chunk fe_chunk;
typedef struct {
  fe_chunk *head;
} fe_arena;

void *fe_alloc(fe_arena *a, size_t size); /* zeroed; aborts only if malloc fails */
char *fe_strndup(fe_arena *a, const char *s, size_t n);
void fe_arena_free(fe_arena *a);

/* ---- source positions and reporting ------------------------------------------------- */

/* A range of source text: [line:col, end_line:end_col), 1-based columns. */
typedef struct {
  int line, col;
  int end_line, end_col;
} fe_span;

fe_span fe_span_join(fe_span a, fe_span b);

typedef struct {
  const char *path;
  const char *src;
  size_t len;
  fe_diagnostics *diags;
  fe_arena arena;
} fe_ctx;

/* Error with the caret at `at` and '~' under `range` where it lies on the same line. */
void fe_error_at(fe_ctx *c, fe_span at, fe_span range, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fe_error(fe_ctx *c, fe_span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void fe_note(fe_ctx *c, fe_span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void fe_warning(fe_ctx *c, fe_span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sorts the diagnostics from index `from` on by position (notes stay with theirs). */
void fe_sort_diagnostics(fe_diagnostics *d, int from);
/* The source text of a span on one line, if it is short (for messages); else `dflt`. */
const char *fe_span_text(fe_ctx *c, fe_span s, const char *dflt);

/* The length of the UTF-8 sequence at s (n bytes there) and its code point, or 0 when the
 * bytes are not UTF-8 (overlong forms, surrogates and values past U+10FFFF included). */
int fe_utf8_decode(const unsigned char *s, size_t n, uint32_t *code);

/* The candidate closest to `name` by edit distance, or NULL when none is close enough
 * to be worth suggesting. */
const char *fe_closest(const char *name, const char *const *cands, int ncands);

/* Shortest decimal text that reads back as exactly `v` ("0.03", "1e-08", "4"). */
void fe_format_number(double v, char *buf, size_t size);

/* ---- tokens ------------------------------------------------------------------------- */

typedef enum {
  TK_EOF,
  TK_NEWLINE, /* ends a statement; dropped where a statement clearly continues */
  TK_IDENT,
  TK_NUMBER,
  TK_STRING,
  TK_LPAREN, TK_RPAREN, TK_LBRACKET, TK_RBRACKET, TK_LBRACE, TK_RBRACE,
  TK_COMMA, TK_COLON, TK_ASSIGN, TK_DOTDOT,
  TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_CARET, TK_AT,
  TK_BAD, /* a malformed token, already reported */
} fe_tok_kind;

typedef struct {
  fe_tok_kind kind;
  fe_span span;
  const char *text; /* NUL-terminated copy: identifier, number text, or string contents */
  double num;       /* TK_NUMBER */
  bool is_int;      /* TK_NUMBER written without '.' or exponent */
} fe_token;

/* Tokenises the whole source (reporting bad characters, numbers and strings); the array
 * always ends with TK_EOF. */
fe_token *fe_lex(fe_ctx *c, int *ntokens);
const char *fe_tok_name(fe_tok_kind k);

/* ---- syntax tree -------------------------------------------------------------------- */

typedef enum {
  EX_NUMBER, /* 0.5, 10 */
  EX_STRING, /* "digits.csv" */
  EX_NAME,   /* x, f32, true */
  EX_CALL,   /* f(a, key = b) */
  EX_UNARY,  /* -x */
  EX_BINARY, /* a + b, a @ b, a ^ b ... */
  EX_LIST,   /* [a, b, c] */
  EX_RANGE,  /* pixel0..pixel63 (data sources only) */
} fe_expr_kind;

typedef struct fe_expr fe_expr;

typedef struct {
  const char *name; /* NULL: positional */
  fe_span name_span;
  fe_expr *value;
} fe_arg;

struct fe_expr {
  fe_expr_kind kind;
  fe_span span;    /* the whole expression */
  fe_span op_span; /* the operator (unary, binary, range) or the callee's name (call) */
  double num;
  bool is_int;
  const char *text; /* NAME, callee of CALL, contents of STRING, text of NUMBER */
  char op;          /* UNARY: '-'; BINARY: + - * / ^ @ */
  fe_expr *lhs, *rhs;
  int nargs; /* CALL arguments, LIST items */
  fe_arg *args;
};

typedef enum {
  ST_MODEL,     /* model NAME */
  ST_LET,       /* NAME = expr */
  ST_INPUT,     /* input NAME: type */
  ST_LABEL,     /* label NAME: type */
  ST_PARAM,     /* param NAME: type = init */
  ST_OUTPUT,    /* output expr */
  ST_LOSS,      /* loss expr */
  ST_OPTIMIZER, /* optimizer NAME(args) */
  ST_TRAIN,     /* train key = value, ... */
  ST_DATA,      /* data NAME(args) */
  ST_DEF,       /* def NAME(params) { body } */
  ST_RETURN,    /* return expr (inside def) */
} fe_stmt_kind;

typedef struct {
  const char *dtype;
  fe_span dtype_span;
  int ndims;
  fe_expr **dims;
  fe_span span;
} fe_type_expr;

typedef struct fe_stmt fe_stmt;
struct fe_stmt {
  fe_stmt_kind kind;
  fe_span span;     /* the keyword (or the name of a binding) */
  const char *name; /* MODEL, LET, INPUT, LABEL, PARAM, DEF */
  fe_span name_span;
  fe_type_expr type; /* INPUT, LABEL, PARAM */
  fe_expr *value;    /* LET, OUTPUT, LOSS, RETURN: expr; PARAM: initialiser; OPTIMIZER, DATA: call */
  int nsettings;     /* TRAIN */
  fe_arg *settings;
  int nparams; /* DEF */
  const char **params;
  fe_span *param_spans;
  int nbody;
  fe_stmt **body;
  bool broken; /* a syntax error was reported in it: lowering skips it quietly */
};

typedef struct {
  int nstmts;
  fe_stmt **stmts;
} fe_program;

/* Parses the tokens; syntax errors are reported and the parser carries on at the next
 * statement, so the program holds every statement it could make sense of. */
fe_program *fe_parse(fe_ctx *c, const fe_token *toks, int ntoks);

/* ---- lowering ------------------------------------------------------------------------ */

/* A value during lowering. Numbers and literal lists stay "weak" until they meet a
 * tensor, whose dtype and shape they take (as NumPy's Python scalars do). */
typedef enum {
  FV_POISON, /* an error was reported for it: uses stay quiet */
  FV_NUM,    /* compile-time number */
  FV_LIT,    /* tensor literal [..]: shape in lit, elements in values */
  FV_NODE,   /* an IR value */
} fe_val_kind;

typedef struct {
  fe_val_kind kind;
  double num;
  bool is_int; /* NUM: integral; LIT: every element integral */
  bool uses_batch; /* NUM: computed from the batch size, so it changes with --batch */
  ir_type lit;
  double *values;
  ir_node *node;
} fe_val;

typedef struct fe_scope fe_scope;
typedef struct fe_lower fe_lower;

/* The lowering context (lower.c), shared with values.c, builtins.c and settings.c. */
#define FE_MAX_INLINE_DEPTH 32

typedef struct {
  const char *name;
  fe_val val;
  fe_span def;
  bool is_label;
} fe_binding;

/* Names to small integers, by open addressing in the arena: a generated model has
 * thousands of names, each looked up at every use, where a list would make lowering
 * quadratic. */
typedef struct {
  const char **keys; /* NULL: an empty slot */
  int *values;
  int n, cap; /* cap: 0, or a power of two at least twice n */
} fe_name_map;

struct fe_scope {
  fe_scope *globals;  /* in a function: the file's scope, whose constants it sees */
  fe_binding *items;
  int n, cap;
  fe_name_map index; /* name -> position in items */
  const char *prefix; /* in a function: what its parameters' and values' names start with */
};

typedef struct {
  const fe_stmt *fn;
  fe_span call;
} fe_frame;

struct fe_lower {
  fe_ctx *c;
  ir_module *m;
  ir_func *f;
  const fe_options *opts;
  fe_scope global;
  const fe_stmt **defs;
  int ndefs;
  int *calls;   /* per def: calls so far, for the names of unnamed calls' parameters */
  bool *def_ok; /* per def: false when its definition had an error (calls stay quiet) */
  int base_errors; /* errors in the list before this compilation */
  fe_frame stack[FE_MAX_INLINE_DEPTH];
  int depth;
  long inlined_exprs; /* expressions lowered in inlined bodies, each copy counted */
  bool over_budget;
  /* the LET being lowered: a call of a user function as its whole value names its
   * parameters after it */
  const fe_expr *let_expr;
  const char *let_name;
  fe_name_map prefixes; /* the names given to calls (values unused) */
  /* singletons of the file */
  const fe_stmt *model, *output, *loss, *optimizer, *data, *train;
  ir_node *loss_node, *output_node;
  bool loss_seen, output_seen;
};

fe_val fe_lower_expr(fe_lower *lw, fe_scope *s, const fe_expr *e);
/* The IR value of v, materialising numbers and literals as constants of dtype `dt`
 * (shape of the literal, or scalar). NULL for poison. */
ir_node *fe_to_node(fe_lower *lw, fe_val v, ir_dtype dt, fe_span at);
/* ir_build at `at`'s position; a failure is reported there with the shape rule's
 * message (and the inline call stack) and gives NULL. */
ir_node *fe_build(fe_lower *lw, fe_span at, fe_span range, ir_opcode op, ir_node *const *args,
                  int nargs, const ir_attrs *attrs, const ir_type *given);
/* Elementwise binary op with NumPy broadcasting made explicit; operator `sym` names it in
 * messages ("+", or "add"). */
fe_val fe_binary(fe_lower *lw, fe_span at, fe_span range, const char *sym, ir_opcode op,
                 fe_val a, fe_val b);
/* a @ b with NumPy's rules for vectors; batch dimensions broadcast inside the matmul. */
fe_val fe_matmul(fe_lower *lw, fe_span at, fe_span range, fe_val a, fe_val b);
fe_val fe_node_val(ir_node *n);
fe_val fe_negate(fe_lower *lw, fe_span at, fe_span range, fe_val v);
/* A tensor literal [..] (rectangular, elements constant numbers). */
fe_val fe_literal(fe_lower *lw, fe_scope *s, const fe_expr *e);
fe_val fe_poison(void);
/* Reports an error with notes for the chain of inlined calls that led there. */
void fe_lower_error(fe_lower *lw, fe_span at, fe_span range, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
fe_ctx *fe_lower_ctx(fe_lower *lw);
fe_scope *fe_global_scope(fe_lower *lw);
ir_func *fe_lower_func(fe_lower *lw);

/* Compile-time evaluation (dims, axes, flags); false after reporting an error. */
bool fe_eval_int(fe_lower *lw, fe_scope *s, const fe_expr *e, int64_t *out);
bool fe_eval_number(fe_lower *lw, fe_scope *s, const fe_expr *e, double *out);
bool fe_eval_bool(fe_lower *lw, const fe_expr *e, bool *out);
bool fe_eval_dtype(fe_lower *lw, const fe_expr *e, ir_dtype *out);
/* An int or a list of ints; *n = count. max = capacity of out. */
bool fe_eval_ints(fe_lower *lw, fe_scope *s, const fe_expr *e, int64_t *out, int max, int *n);
/* Type from a type expression ("f32[batch, 2]"). `batch_dim` (may be NULL) gets the first
 * dimension computed from the batch size, NULL when none is. */
bool fe_eval_type(fe_lower *lw, fe_scope *s, const fe_type_expr *t, ir_type *out,
                  const fe_expr **batch_dim);

/* Binding call arguments to a signature: "x, axis?, keepdims?" (a '?' marks an optional
 * parameter, a leading '*' a parameter taking every remaining positional argument).
 * Reports unknown keywords (with a suggestion), duplicates and wrong counts. */
#define FE_MAX_SIG 16
typedef struct {
  const fe_expr *slot[FE_MAX_SIG]; /* by parameter position; NULL when not given */
  const fe_expr **rest;            /* the '*' parameter's arguments */
  int nrest;
} fe_bound_args;
bool fe_bind_args(fe_lower *lw, const fe_expr *call, const char *what, const char *sig,
                  fe_bound_args *out);

/* builtins.c: whether `name` is a built-in function; lowers a call of one. */
bool fe_is_builtin(const char *name);
fe_val fe_lower_builtin(fe_lower *lw, fe_scope *s, const fe_expr *call);

/* settings.c: each returns the canonical meta text (arena) or NULL after reporting. */
const char *fe_initializer_meta(fe_lower *lw, fe_scope *s, const fe_expr *init,
                                const ir_type *param);
const char *fe_optimizer_meta(fe_lower *lw, const fe_expr *call, double *lr, bool *has_lr);
const char *fe_data_meta(fe_lower *lw, const fe_expr *call);
/* Validates `train` settings and stores them as meta entries. */
void fe_train_meta(fe_lower *lw, const fe_stmt *st);
/* Sets a meta entry of the module being built. */
void fe_set_meta(fe_lower *lw, const char *key, const char *value);
/* printf into the frontend's arena. */
char *fe_fmt(fe_lower *lw, const char *f, ...) __attribute__((format(printf, 2, 3)));

#endif

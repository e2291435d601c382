/* The tensor IR: typed SSA values with static shapes, grouped in functions, owned by a
 * module whose arena holds every node, type, attribute and string. Nothing here is
 * freed one by one: ir_module_destroy releases all of it.
 *
 * A function's body is an ordered array of nodes; an operand always appears earlier
 * (or is an argument). Arguments are nodes too (op INPUT, PARAM or STATE). A function
 * ends with named outputs and in-place updates of parameters and optimiser state. */
#ifndef DLC_IR_H
#define DLC_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IR_MAX_RANK 8

/* Internal invariants: a broken one is a bug in dlc, not in the user's input. */
#define IR_ASSERT(cond)                                                                 \
  do {                                                                                  \
    if (!(cond)) ir_assert_fail(__FILE__, __LINE__, #cond);                             \
  } while (0)
_Noreturn void ir_assert_fail(const char *file, int line, const char *cond);

/* ---- dtypes and types ---------------------------------------------------------- */

typedef enum { IR_F32, IR_F64, IR_I32, IR_I64, IR_BOOL, IR_DTYPE_COUNT } ir_dtype;

typedef struct {
  ir_dtype dtype;
  int rank;                   /* 0 = scalar */
  int64_t dims[IR_MAX_RANK];
} ir_type;

const char *ir_dtype_name(ir_dtype dt);
bool ir_dtype_from_name(const char *s, size_t len, ir_dtype *out);
bool ir_dtype_is_float(ir_dtype dt);
size_t ir_dtype_size(ir_dtype dt);

ir_type ir_type_make(ir_dtype dt, int rank, const int64_t *dims);
ir_type ir_type_scalar(ir_dtype dt);
bool ir_type_equal(const ir_type *a, const ir_type *b);
bool ir_shape_equal(const ir_type *a, const ir_type *b);
int64_t ir_type_numel(const ir_type *t);
/* "f32[10,2]" into buf; returns buf. 96 bytes always suffice. */
#define IR_TYPE_STR_MAX 96
char *ir_type_str(const ir_type *t, char *buf, size_t size);
/* "[10,2]" into buf; returns buf. */
char *ir_shape_str(const ir_type *t, char *buf, size_t size);

/* NumPy broadcasting of two shapes; false if they do not broadcast. */
bool ir_broadcast_shapes(const ir_type *a, const ir_type *b, ir_type *out);
/* Whether `from` broadcasts to exactly `to` under NumPy's rules. */
bool ir_broadcasts_to(const ir_type *from, const ir_type *to);

/* ---- the op table -------------------------------------------------------------- */

typedef enum {
#define OP(id, name, kind, arity, attrs, flags) IR_OP_##id,
#include "ops.def"
  IR_OP_COUNT
} ir_opcode;

typedef enum {
  IR_KIND_SOURCE,   /* no operands, value from attributes */
  IR_KIND_ARG,      /* function argument */
  IR_KIND_UNARY,    /* elementwise, one operand */
  IR_KIND_BINARY,   /* elementwise, two operands, NumPy broadcasting */
  IR_KIND_COMPARE,  /* elementwise, two operands, bool result */
  IR_KIND_SELECT,   /* elementwise, bool condition and two values */
  IR_KIND_REDUCE,   /* over a list of axes */
  IR_KIND_CONTRACT, /* matmul */
  IR_KIND_LAYOUT,   /* moves elements, computes nothing */
  IR_KIND_LABEL,    /* integer labels: one_hot, gather */
  IR_KIND_SOFTMAX,  /* softmax family along one axis */
} ir_kind;

typedef enum {
  IR_ATTR_NONE,
  IR_ATTR_VALUE,   /* const: one value or all elements */
  IR_ATTR_AXIS,    /* axis=N */
  IR_ATTR_AXES,    /* axes=[...] and keepdims */
  IR_ATTR_PERM,    /* perm=[...] */
  IR_ATTR_SLICE,   /* start=[...] end=[...] */
  IR_ATTR_PADDING, /* lo=[...] hi=[...] */
} ir_attr_kind;

enum {
  IR_F_DIFF = 1u << 0,       /* has a vector-Jacobian product */
  IR_F_COMMUTES = 1u << 1,   /* op(a, b) == op(b, a) */
  IR_F_FLOAT = 1u << 2,      /* operands must be floating point */
  IR_F_TYPE_GIVEN = 1u << 3, /* the result type is part of the op (cast, reshape, ...) */
};

typedef struct {
  const char *name;
  ir_kind kind;
  int arity;       /* -1: one or more */
  ir_attr_kind attrs;
  unsigned flags;
} ir_op_info;

extern const ir_op_info ir_ops[IR_OP_COUNT];
/* Op by its textual name; false if there is none. */
bool ir_op_from_name(const char *s, size_t len, ir_opcode *out);
bool ir_op_is_elementwise(ir_opcode op);

/* ---- nodes, functions, modules ------------------------------------------------- */

typedef struct {
  int line, col; /* 1-based; 0 = unknown */
} ir_loc;

typedef struct {
  int64_t axis;                 /* AXIS (also gather's axis) */
  int naxes;                    /* AXES, PERM */
  int64_t axes[IR_MAX_RANK];
  bool keepdims;                /* AXES */
  int nbounds;                  /* SLICE, PADDING: one entry per operand axis */
  int64_t lo[IR_MAX_RANK];      /* SLICE start, PADDING before */
  int64_t hi[IR_MAX_RANK];      /* SLICE end (exclusive), PADDING after */
  int64_t nvalues;              /* VALUE: 1 = every element has values[0] */
  double *values;
} ir_attrs;

typedef struct ir_node ir_node;
struct ir_node {
  ir_opcode op;
  int id;              /* unique within its function, dense: usable as an array index */
  ir_type type;
  int nargs;
  ir_node **args;
  ir_attrs attrs;
  const char *name;    /* NULL: printed as %N; arguments always have one */
  ir_loc loc;          /* where in the model source it came from */
  int kernel;          /* fused kernel it belongs to; 0 = none (set by the fuse pass) */
};

typedef struct {
  const char *name;
  ir_node *value;
} ir_output;

/* Optimiser state is named under a keyword of the model language, which no name of a model
 * file can start with: "optimizer.m.w" (the first moment of parameter w), "optimizer.step"
 * (the step count, an f32 scalar, which the backend finds by this name). */
#define IR_STATE_PREFIX "optimizer."
#define IR_STEP_COUNTER IR_STATE_PREFIX "step"

typedef struct {
  ir_node *target;     /* a PARAM or STATE argument */
  ir_node *value;      /* its new value, same type */
} ir_update;

typedef struct ir_module ir_module;

typedef struct {
  ir_module *module;
  const char *name;
  int nargs;
  ir_node **args;
  int nbody, body_cap;
  ir_node **body;
  int noutputs, outputs_cap;
  ir_output *outputs;
  int nupdates, updates_cap;
  ir_update *updates;
  int next_id;
  int insert_at;       /* where ir_build puts new nodes; -1 = at the end */
  ir_loc loc;          /* location given to new nodes */
} ir_func;

typedef struct {
  const char *key, *value;
} ir_meta;

struct ir_module {
  struct ir_arena *arena;
  int nfuncs, funcs_cap;
  ir_func **funcs;
  int nmeta, meta_cap;
  ir_meta *meta;
};

/* An error with a location: in IR text (parser) or in the model source (node locs). */
typedef struct {
  ir_loc loc;
  char msg[512];
} ir_error;
void ir_error_set(ir_error *err, ir_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The process's stderr into a temporary file from ir_capture_begin (false: nothing is
 * captured) until ir_capture_end, which puts stderr back and returns what was written
 * (malloc'd; NULL if nothing was captured). */
typedef struct {
  int saved_fd;
  void *file;  /* FILE * of the temporary file */
} ir_capture;
bool ir_capture_begin(ir_capture *c);
char *ir_capture_end(ir_capture *c);

ir_module *ir_module_create(void);
void ir_module_destroy(ir_module *m);
void *ir_alloc(ir_module *m, size_t size); /* zeroed, aligned for any type */
char *ir_strdup(ir_module *m, const char *s);
char *ir_strndup(ir_module *m, const char *s, size_t n);

void ir_module_set_meta(ir_module *m, const char *key, const char *value);
const char *ir_module_get_meta(const ir_module *m, const char *key);

ir_func *ir_func_create(ir_module *m, const char *name);
ir_func *ir_module_find_func(const ir_module *m, const char *name);
ir_node *ir_func_add_arg(ir_func *f, ir_opcode role, const char *name, ir_type type);
ir_node *ir_func_find_arg(const ir_func *f, const char *name);
void ir_func_add_output(ir_func *f, const char *name, ir_node *value);
ir_node *ir_func_find_output(const ir_func *f, const char *name);
/* Whether x is the new value of one of f's updates. */
bool ir_func_is_update_value(const ir_func *f, const ir_node *x);
void ir_func_add_update(ir_func *f, ir_node *target, ir_node *value);

/* Checks operands and attributes with the op's shape rule, computes the result type
 * (`given` is the type for IR_F_TYPE_GIVEN ops, and must equal the inferred one for
 * others when not NULL), and inserts the node. NULL and `err` filled on failure. */
ir_node *ir_build(ir_func *f, ir_opcode op, ir_node *const *args, int nargs,
                  const ir_attrs *attrs, const ir_type *given, ir_error *err);
/* ir_build for passes, whose inputs are verified IR: a failure is a bug and aborts. */
ir_node *ir_emit(ir_func *f, ir_opcode op, ir_node *const *args, int nargs,
                 const ir_attrs *attrs, const ir_type *given);

/* Small builders over ir_emit, for passes. */
ir_node *ir_emit_unary(ir_func *f, ir_opcode op, ir_node *x);
ir_node *ir_emit_binary(ir_func *f, ir_opcode op, ir_node *a, ir_node *b); /* broadcasts explicitly */
ir_node *ir_emit_const(ir_func *f, ir_type type, double value);            /* splat */
ir_node *ir_emit_broadcast(ir_func *f, ir_node *x, const ir_type *to);     /* no-op if same shape */
ir_node *ir_emit_reshape(ir_func *f, ir_node *x, const ir_type *to);       /* no-op if same shape */
ir_node *ir_emit_reduce(ir_func *f, ir_opcode op, ir_node *x, const int64_t *axes, int naxes,
                        bool keepdims);
ir_node *ir_emit_cast(ir_func *f, ir_node *x, ir_dtype to);                /* no-op if same */

/* Number of uses of each node, indexed by id; array of f->next_id ints, caller frees. */
int *ir_use_counts(const ir_func *f);
/* The number the printer shows for each unnamed body node, %0, %1, ... in body order,
 * indexed by id (-1 for named values). Array of f->next_id ints, caller frees. */
int *ir_value_numbers(const ir_func *f);
/* "%name" or "%N" as the printer shows n, into buf; numbers from ir_value_numbers. */
const char *ir_value_label(const ir_node *n, const int *numbers, char *buf, size_t size);
/* Drop body nodes for which keep[id] is false (order of the rest kept). */
void ir_func_retain(ir_func *f, const bool *keep);

/* The shape rule: result type of n from its operands and attributes (n->type is read
 * for IR_F_TYPE_GIVEN ops). Messages name the op and both shapes where relevant. */
bool ir_infer_type(const ir_node *n, ir_type *out, ir_error *err);

/* ---- text --------------------------------------------------------------------- */

void ir_print_module(FILE *out, const ir_module *m);
void ir_print_func(FILE *out, const ir_func *f);
/* Printed module as a malloc'd string (caller frees). */
char *ir_module_to_string(const ir_module *m);
/* Parses a whole module; on failure NULL, with line and column in err->loc. */
ir_module *ir_parse(const char *text, size_t len, ir_error *err);

/* ---- verifier ----------------------------------------------------------------- */

/* Types, shapes, arity, attributes, SSA dominance, outputs and updates. The message
 * names the function, the value and the op. */
bool ir_verify_module(const ir_module *m, ir_error *err);
bool ir_verify_func(const ir_func *f, ir_error *err);

#endif

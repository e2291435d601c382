/* Shared inside the backend only: the code generation context, the plan of one entry
 * (kernels, schedule, buffers) and the emitters' entry points. Nothing here is public. */
#ifndef DLC_BE_INTERNAL_H
#define DLC_BE_INTERNAL_H

#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/TargetMachine.h>
#include <stdbool.h>
#include <stddef.h>

#include "be.h"

/* ---- code generation context (one per LLVM module) ---------------------------------- */

typedef struct {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMModuleRef vector_mod; /* the explicit vector functions (be_vector_fn_begin) */
  LLVMBuilderRef b;
  LLVMTypeRef i1, i8, i32, i64, f32, f64, ptr, void_t;
  LLVMTypeRef frame_t;  /* dlc_frame: seven pointers */
  const char *cpu, *features;
  bool wide_vectors;    /* the host has AVX-512: ask for 512-bit vectors */
  int nfuncs;           /* kernels emitted so far, for unique names */
  struct be_kernel_cache *kernels; /* while emitting a module: kernels by body, for sharing */
} be_ctx;
typedef struct be_kernel_cache be_kernel_cache;

/* ---- the plan of one entry ---------------------------------------------------------- */

/* Where a buffer lives: a base pointer of the frame plus a byte offset. */
typedef enum {
  BE_BASE_NONE,    /* no buffer (computed inline where used) */
  BE_BASE_INPUT,   /* frame->inputs[input] */
  BE_BASE_PARAMS,
  BE_BASE_STATE,
  BE_BASE_GRADS,
  BE_BASE_SCRATCH,
  BE_BASE_LOSS,    /* *frame->loss */
  BE_BASE_PRED,    /* frame->prediction */
} be_base;

typedef struct {
  be_base base;
  int input;       /* BE_BASE_INPUT: position among the model's inputs */
  size_t offset;   /* bytes from the base */
} be_loc;

typedef enum {
  BE_K_ELEMENTWISE, /* one loop nest over the result shape */
  BE_K_REDUCE,      /* a reduction, with the elementwise ops that feed it */
  BE_K_SOFTMAX,     /* softmax / log_softmax along one axis */
  BE_K_MATMUL,
} be_kernel_kind;

typedef struct {
  be_kernel_kind kind;
  int kernel;          /* the IR's kernel number, 0 for a kernel of one node */
  int nnodes;
  ir_node **nodes;     /* members, in body order */
  ir_node *sink;       /* reduce, softmax or matmul node; NULL for elementwise kernels */
  ir_type space;       /* the iteration space: result shape, or the reduction's operand shape */
  size_t panel_bytes;  /* matmul: scratch for its packed panels (0: none), passed to the kernel */
  bool staged_product; /* matmul: its product, read by nothing but its epilogue, lives a row
                        * of tiles at a time in the panel scratch (be_matmul_can_stage) */
  be_loc panel;        /* as its last parameter */
} be_group;

typedef struct {
  be_loc src, dst;
  size_t bytes;
} be_copy;

/* One scratch buffer of a plan, for reports (memplan): value, size, place, lifetime. */
typedef struct {
  int id;              /* node id; -1 for a snapshot of an argument an update reads; -2 - g
                        * for the packed panels of kernel g (a matmul) */
  size_t bytes, offset;
  int start, end;      /* schedule positions (kernels), inclusive; -1 = before the first */
} be_buffer;

typedef struct {
  const ir_func *f;
  int nids;
  bool *live;          /* by node id */
  int *group_of;       /* by node id: index into groups, -1 for none */
  bool *materialize;   /* by node id: has a buffer written by its kernel */
  be_loc *loc;         /* by node id: its buffer (arguments, materialised values, aliases) */
  int ngroups;
  be_group *groups;    /* in schedule order */
  int nstart, nend;
  be_copy *start_copies, *end_copies; /* before the first kernel, after the last */
  size_t scratch_bytes;
  int nbuffers;
  be_buffer *buffers;  /* every scratch buffer, by offset */
  size_t live_max_bytes; /* the most scratch bytes live at one time (no reuse can do better) */
} be_plan;


/* What one entry computes. */
#define BE_NENTRIES 5
typedef struct {
  const char *entry;         /* "train_step", ... */
  const char *func;          /* IR function it comes from */
  bool keep_updates;
  bool (*keep_output)(const char *name);
} be_entry_spec;
/* train_step, eval_loss, forward, gradients, apply: the order of dlc_model_desc's entries. */
extern const be_entry_spec be_entries[BE_NENTRIES];

/* Model-level facts an entry plan needs: inputs and tensor offsets (from the desc). */
typedef struct be_model be_model;
struct be_model {
  dlc_model_desc desc;
  dlc_tensor_desc *inputs, *params, *state;
  bool has_entry[BE_NENTRIES]; /* the module has the entry's function */
  char **strings;      /* every string the desc points at, for freeing */
  int nstrings, strings_cap;
};

bool be_model_build(const ir_module *m, be_model *out, ir_error *err);
void be_model_free(be_model *model);
const dlc_tensor_desc *be_model_find(const dlc_tensor_desc *t, int n, const char *name, int *index);

bool be_plan_build(const ir_func *f, const be_entry_spec *spec, const be_model *model,
                   be_plan *plan, ir_error *err);
void be_plan_free(be_plan *plan);

/* ---- LLVM helpers (be_llvm.c) ------------------------------------------------------- */

void be_ctx_init(be_ctx *c, LLVMContextRef ctx, const char *module_name, const char *cpu,
                 const char *features);
void be_ctx_dispose_builder(be_ctx *c);
LLVMTypeRef be_mem_type(be_ctx *c, ir_dtype dt); /* how an element is stored */
LLVMTypeRef be_reg_type(be_ctx *c, ir_dtype dt); /* how it is computed (bool: i1) */
LLVMValueRef be_i64(be_ctx *c, int64_t v);
LLVMValueRef be_const_of(be_ctx *c, ir_dtype dt, double v);
LLVMValueRef be_load(be_ctx *c, ir_dtype dt, LLVMValueRef base, LLVMValueRef index);
void be_store(be_ctx *c, ir_dtype dt, LLVMValueRef base, LLVMValueRef index, LLVMValueRef v);
LLVMValueRef be_intrinsic(be_ctx *c, const char *name, LLVMTypeRef overload, LLVMValueRef *args,
                          int nargs);
LLVMValueRef be_libm(be_ctx *c, const char *f32_name, const char *f64_name, ir_dtype dt,
                     LLVMValueRef *args, int nargs);
/* Row-major linear index of idx in a shape (rank entries; NULL idx entries count as 0). */
LLVMValueRef be_linear_index(be_ctx *c, const ir_type *t, LLVMValueRef *idx);
/* A kernel function `void name(ptr noalias, ...)` with nparams buffers, builder at its entry. */
LLVMValueRef be_begin_function(be_ctx *c, const char *name, int nparams, bool internal);
/* The general form: nptr pointers (the first nalias noalias nocapture), then ni64 i64s. */
LLVMValueRef be_begin_function_args(be_ctx *c, const char *name, int nptr, int nalias, int ni64, bool internal);
void be_set_function_attrs(be_ctx *c, LLVMValueRef fn);
/* Adds the function attribute named `attr` (an enum attribute: "nounwind", "noinline", ...). */
void be_add_fn_attr(be_ctx *c, LLVMValueRef fn, const char *attr);
/* Marks fn, a function that only calls kernels (an entry, a matmul's task dispatch, the tile
 * loops of its parts), to be compiled without optimisation: the kernels it calls run for
 * thousands of cycles each, and LLVM's passes and instruction selection on such glue were
 * 8 % of W3's compile (steps measured the same). */
void be_mark_glue(be_ctx *c, LLVMValueRef fn);
LLVMValueRef be_entry_alloca(be_ctx *c, LLVMTypeRef t, const char *name);

/* Functions written as explicit vector code (the matmul's micro-kernels and packing) live in
 * c->vector_mod, which dlc's IR passes skip: they compiled to the same machine code without
 * them, and the passes cost 10M instructions a micro-kernel (W3's compile -5 %).
 * be_build_llvm links it into c->mod after optimisation. Emitting one:
 *   fn = be_vector_fn_find(c, name); if (fn) return fn;
 *   be_emit_point at = be_vector_fn_begin(c); fn = be_begin_function(c, name, ...); ...
 *   return be_vector_fn_end(c, at, fn);
 * Both return fn's declaration in c->mod, the one callers call. */
typedef struct {
  LLVMModuleRef mod;
  LLVMBasicBlockRef block;
} be_emit_point;
LLVMValueRef be_vector_fn_find(be_ctx *c, const char *name);
be_emit_point be_vector_fn_begin(be_ctx *c);
LLVMValueRef be_vector_fn_end(be_ctx *c, be_emit_point at, LLVMValueRef fn);

/* Counted loops in do-while form: a static trip count n >= 1, or (be_loop_begin_dyn) a
 * runtime one that is at least 1, where one function serves several counts. */
typedef struct {
  LLVMBasicBlockRef preheader, header;
  LLVMValueRef index;
  int64_t n;          /* 0 when the count is only known at run time */
  LLVMValueRef bound; /* the runtime count, or NULL */
} be_loop;
LLVMValueRef be_loop_begin(be_ctx *c, be_loop *l, int64_t n, const char *name);
LLVMValueRef be_loop_begin_dyn(be_ctx *c, be_loop *l, LLVMValueRef n, const char *name);
void be_loop_end(be_ctx *c, be_loop *l);

/* ---- kernels ------------------------------------------------------------------------ */

/* The state of one kernel being emitted: its function's buffer parameters. */
typedef struct be_memo be_memo;
typedef struct {
  be_ctx *c;
  const be_plan *plan;
  int group;               /* index into plan->groups */
  LLVMValueRef *buf;       /* by node id: the buffer pointer in this function, or NULL */
  be_memo *memo;           /* values already computed in the current loop body */
  LLVMValueRef panel;      /* the group's panel scratch (be_group.panel_bytes), or NULL */
  bool error;              /* an op this kernel cannot emit; message in errmsg */
  char errmsg[200];
} be_kernel;

/* Value of node n at index idx (n->type.rank entries) inside the current loop body:
 * loaded from its buffer, or computed from its operands when it belongs to this kernel. */
LLVMValueRef be_value_at(be_kernel *k, const ir_node *n, LLVMValueRef *idx);
/* Whether be_value_at computes n from its operands here instead of loading it. */
bool be_is_inline(const be_kernel *k, const ir_node *n);
void be_memo_clear(be_kernel *k);
void be_memo_free(be_kernel *k);
/* Records v as n's value at idx in the current loop body: a value its kernel has at hand
 * (a matmul's product, loaded from where its emitter staged it). */
void be_memo_put(be_kernel *k, const ir_node *n, LLVMValueRef *idx, LLVMValueRef v);
/* Index of operand `from` (right-aligned broadcasting) for result index idx of shape `to`. */
void be_broadcast_index(be_ctx *c, const ir_type *from, const ir_type *to, LLVMValueRef *idx,
                        LLVMValueRef *out);

/* The scalar emitter of an elementwise op (NULL for ops that are not elementwise). */
typedef LLVMValueRef (*be_scalar_fn)(be_ctx *c, const ir_node *n, LLVMValueRef *args);
be_scalar_fn be_scalar_emitter(ir_opcode op);
/* Whether op's scalar code is long: a polynomial of be_math.c (exp, log and what uses
 * them) or a libm call. Emitters that copy a fused body per row make fewer copies of those. */
bool be_scalar_code_is_long(ir_opcode op);
/* Value of a layout, label or source op at idx (NULL if op is not one). */
typedef LLVMValueRef (*be_index_fn)(be_kernel *k, const ir_node *n, LLVMValueRef *idx);
be_index_fn be_layout_emitter(ir_opcode op);

/* Loop nest over a shape, calling body with the full index (size-1 axes get constant 0). */
typedef void (*be_body_fn)(be_kernel *k, LLVMValueRef *idx, void *arg);
void be_emit_loops(be_kernel *k, const ir_type *space, be_body_fn body, void *arg);
/* After be_loop_end of an innermost loop: keeps LLVM from unrolling it in full when it is
 * short but not tiny (the 10 classes of a row), so that the loop vectoriser widens it (one
 * masked vector per row) instead of the loop around it (a gather or scatter per access). */
void be_loop_keep(be_ctx *c, const be_loop *l);
/* After be_loop_end: LLVM never unrolls the loop, whatever its count (loops that only call
 * functions, or whose body the emitter already unrolled). */
void be_loop_no_unroll(be_ctx *c, const be_loop *l);
/* After be_loop_end: LLVM neither unrolls nor vectorises the loop; its body is already as
 * wide as it should be (the emitter unrolled a short row, for the SLP vectoriser to pack). */
void be_loop_scalar(be_ctx *c, const be_loop *l);
/* Stores every materialised member of the kernel whose shape is `space`, at idx. */
void be_store_members(be_kernel *k, LLVMValueRef *idx);

void be_emit_elementwise(be_kernel *k);
void be_emit_reduce(be_kernel *k);
void be_emit_softmax(be_kernel *k);
void be_emit_matmul(be_kernel *k);
/* Scratch bytes that matmul group gi needs for its packed panels, for any host it may be
 * compiled for (be_matmul.c); 0 when it packs nothing. */
size_t be_matmul_panel_bytes(const be_plan *p, int gi);
/* Whether matmul group gi, on any host, computes K in one block and runs its epilogue a row
 * of tiles at a time, so a product that only the epilogue reads needs no buffer of its own. */
bool be_matmul_can_stage(const be_plan *p, int gi);

/* e^x and ln(x) of f32 or f64 scalars or vectors, as branch-free arithmetic (be_math.c):
 * no libm call, so loops that use them vectorise. NaN, the infinities, 0, subnormals and
 * overflow give what the C library gives, to within about one ulp. */
LLVMValueRef be_exp(be_ctx *c, LLVMValueRef x);
LLVMValueRef be_log(be_ctx *c, LLVMValueRef x);

/* Floating-point combine for accumulations: reassociation allowed so loops vectorise. */
LLVMValueRef be_fadd_reassoc(be_ctx *c, LLVMValueRef a, LLVMValueRef b);

/* ---- module, target ---------------------------------------------------------------- */

/* Emits every entry of the module into c->mod; builds the model description. */
bool be_codegen_module(be_ctx *c, ir_module *m, be_model *model, unsigned entries, ir_error *err);

typedef struct {
  LLVMTargetMachineRef tm;
  LLVMTargetRef target;
  char *triple, *cpu, *features;
  int opt_level;
  bool wide_vectors;
} be_target;

bool be_target_create(const be_options *o, be_target *t, ir_error *err);
void be_target_dispose(be_target *t);
/* A new target machine for t's cpu, features and level (the JIT takes one of its own). */
LLVMTargetMachineRef be_target_machine(const be_target *t);
/* Data layout and triple of the target on the module. */
void be_target_apply(const be_target *t, LLVMModuleRef mod);
bool be_optimize(const be_target *t, LLVMModuleRef mod, int opt_level, ir_error *err);
/* Codegen + dumps + optimisation: a module ready for the JIT or for an object file. */
bool be_build_llvm(ir_module *m, const be_options *o, const be_target *t, LLVMContextRef ctx,
                   LLVMModuleRef *out_mod, be_model *model, ir_error *err);
/* Copies an LLVM error's message into err and disposes it; returns false. */
bool be_take_error(LLVMErrorRef e, const char *what, ir_error *err);
double be_now(void);

#endif

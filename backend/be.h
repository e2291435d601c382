/* The backend's public face: tensor IR (after the pass pipeline) to native code.
 *
 * Every IR function the ABI knows becomes one LLVM function `void dlc_entry_<entry>(dlc_frame *)`
 * (entries: train_step, eval_loss, forward, gradients, apply; see runtime/dlc.h). Fused kernels
 * (node->kernel, set by the fuse pass) become one loop nest each. The result runs in-process
 * (ORC LLJIT) or is written out as a shared library linked with the runtime (AOT). */
#ifndef DLC_BE_H
#define DLC_BE_H

#include <stdbool.h>
#include <stdio.h>

#include "dlc.h"
#include "ir.h"

/* Seconds spent in each backend stage, filled when be_options.timings is set. */
typedef struct {
  double codegen;  /* tensor IR -> LLVM IR */
  double optimize; /* LLVM's IR passes */
  double jit;      /* JIT materialisation (entry look-ups) */
  double emit;     /* object file emission (AOT) */
  double link;     /* C compiler: descriptor, runtime, shared library (AOT) */
} be_timings;

typedef struct {
  const char *target_cpu;      /* NULL: the host's CPU name */
  const char *target_features; /* NULL: the host's; with target_cpu, added to its own */
  int opt_level;               /* 3 (the default): dlc's pass list; 0..2: LLVM's default<On> */
  /* Dumps (NULL: none). The library writes only to streams the caller hands it. */
  FILE *emit_llvm;             /* the LLVM module before optimisation */
  FILE *emit_llvm_opt;         /* ... and after */
  FILE *emit_asm;              /* the machine code */
  be_timings *timings;         /* NULL: not measured */
  const char *runtime_dir;     /* AOT: the runtime's headers (NULL: the path the build gives) */
  const char *runtime_archive; /* AOT: the runtime as a PIC archive (NULL: the one the build made) */
  const char *cc;              /* AOT: the C compiler (NULL: $CC, else "cc") */
  /* Threads the compiled code runs on (runtime/rt_threads.h, one pool per process); 0:
   * leave the pool as it is (1 thread unless DLC_THREADS says otherwise). The JIT sizes the
   * pool when it compiles; a train.so's user calls rt_threads_set or sets DLC_THREADS.
   * The generated code is the same for every count, and so are its results. */
  int threads;
  /* JIT: the entries to compile, DLC_ENTRY_* bits (0: every one the module has); the others
   * are NULL in the descriptor. A training run compiles what it calls, and a step's
   * compile time is the step's, not also @gradients' (its weight-gradient kernels differ
   * from train_step's, which update in their epilogue). AOT compiles every entry: train.so's
   * ABI has them all. */
  unsigned entries;
} be_options;

/* Defaults: host CPU, O3, no dumps. */
be_options be_options_default(void);

/* ---- JIT ------------------------------------------------------------------------ */

typedef struct be_jit be_jit;

/* Compiles every entry of `m` and looks them up. `*desc` stays valid until be_jit_destroy;
 * a function the module lacks gives a NULL entry. */
bool be_jit_compile(ir_module *m, const be_options *o, be_jit **out, const dlc_model_desc **desc,
                    ir_error *err);
void be_jit_destroy(be_jit *jit);

/* ---- AOT ------------------------------------------------------------------------ */

/* Writes `so_path` (the compiled entries, their dlc_model_desc and the runtime, linked into a
 * shared library that needs nothing of dlc or LLVM) and `train.h` beside it. */
bool be_aot_compile(ir_module *m, const be_options *o, const char *so_path, ir_error *err);

/* The header written beside train.so: the ABI of runtime/dlc.h plus the model's constants
 * (batch size, every input's name, shape and dtype). `dlc_h_text` is runtime/dlc.h. */
bool be_write_header(FILE *out, const dlc_model_desc *desc, const char *dlc_h_text);

/* ---- inspection ----------------------------------------------------------------- */

/* The memplan pass: plans every entry of m (liveness, buffer reuse, in-place updates) with
 * the planner the code generator uses, and records each scratch buffer and the peak bytes
 * beside the lower bound in meta entries `memplan.<entry>` and `memplan.<entry>.bNN`.
 * The driver registers it as pass "memplan"; the functions are left untouched. */
bool be_memplan_annotate(ir_module *m, ir_error *err);

/* Graphviz DOT of every function, each fused kernel drawn as a cluster. */
void be_emit_dot(FILE *out, const ir_module *m);

/* The LLVM IR of the module as text (after O3 when `optimized`); caller frees. NULL and
 * `err` filled on failure. For tests and tools. */
char *be_llvm_ir_string(ir_module *m, const be_options *o, bool optimized, ir_error *err);

#endif

/* The public C ABI of a compiled dlc model (what train.so exports and the JIT serves).
 * Usable from C, and from Python with ctypes: plain types, no compiler headers.
 *
 * A compiled model is a table (dlc_model_desc) of tensors and entry points produced by
 * the compiler; the runtime implements every dlc_* function once, over that table. */
#ifndef DLC_H
#define DLC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DLC_ABI_VERSION 2
#define DLC_MAX_RANK 8

/* Same numbering as the IR's dtypes. */
enum { DLC_F32 = 0, DLC_F64 = 1, DLC_I32 = 2, DLC_I64 = 3, DLC_BOOL = 4 };

/* The entry points as bits, in dlc_model_desc's order. */
enum {
  DLC_ENTRY_TRAIN_STEP = 1u << 0,
  DLC_ENTRY_EVAL_LOSS = 1u << 1,
  DLC_ENTRY_FORWARD = 1u << 2,
  DLC_ENTRY_GRADIENTS = 1u << 3,
  DLC_ENTRY_APPLY = 1u << 4,
};

typedef struct {
  const char *name;
  int dtype;
  int rank;
  int64_t shape[DLC_MAX_RANK];
  void *data;
} dlc_tensor;

/* One tensor the compiled code knows about: an input, a parameter or optimiser state. */
typedef struct {
  const char *name;
  int dtype;
  int rank;
  int64_t shape[DLC_MAX_RANK];
  size_t offset;     /* bytes into its block (parameters, state, gradients); 0 for inputs */
  const char *init;  /* initialiser, e.g. "normal(0, 0.01)", "zeros"; NULL for inputs */
  int64_t index_bound; /* an integer input the model indexes with (gather, cross_entropy's
                        * labels): every value lies in [0, index_bound); 0: unchecked */
  unsigned read_by;     /* an input: the entries that read it, DLC_ENTRY_* bits */
} dlc_tensor_desc;

/* Everything one call of compiled code reads and writes. */
typedef struct {
  const void *const *inputs; /* batch buffers, in the order the model declares its inputs */
  void *params;              /* parameter block, param_bytes */
  void *state;               /* optimiser state block, state_bytes */
  void *grads;               /* flat gradient buffer, same layout as params */
  void *scratch;             /* activations, scratch_bytes */
  float *loss;               /* out: the loss before the update */
  void *prediction;          /* out: the model's output */
} dlc_frame;

typedef void (*dlc_entry)(dlc_frame *frame);

typedef struct {
  int abi_version;
  int batch;                        /* the batch size the entries were compiled for */
  int ninputs, nparams, nstate;
  const dlc_tensor_desc *inputs;    /* declared order */
  const dlc_tensor_desc *params;
  const dlc_tensor_desc *state;
  dlc_tensor_desc prediction;       /* shape of the model's output for one batch */
  size_t param_bytes, state_bytes, scratch_bytes;
  int64_t step_counter_offset;      /* -1, or offset in state of an f32 step count (Adam) */
  dlc_entry train_step;             /* forward + backward + update */
  dlc_entry eval_loss;              /* forward, loss only */
  dlc_entry forward;                /* forward, prediction only */
  dlc_entry gradients;              /* forward + backward into grads, loss */
  dlc_entry apply;                  /* update params and state from grads */
} dlc_model_desc;

typedef struct dlc_model dlc_model;

/* The model's compiled description; in train.so it is the one the library was built for. */
const dlc_model_desc *dlc_describe(void);

/* Parameters initialised as the model says, deterministically for a seed. NULL on failure. */
dlc_model *dlc_create(uint64_t seed);
dlc_model *dlc_create_from(const dlc_model_desc *desc, uint64_t seed);
void dlc_destroy(dlc_model *model);

/* One batch, inputs in declared order; returns the loss before the update. */
float dlc_train_step(dlc_model *model, const void *const inputs[]);
float dlc_eval_loss(dlc_model *model, const void *const inputs[]);
void dlc_forward(dlc_model *model, const void *const inputs[], float *output);

/* Data-parallel halves: gradients into the flat buffer, then apply it. */
float dlc_gradients(dlc_model *model, const void *const inputs[]);
void dlc_apply(dlc_model *model);
float *dlc_grad_buffer(dlc_model *model, int64_t *count);

int dlc_num_params(const dlc_model *model);
int dlc_param(const dlc_model *model, int index, dlc_tensor *out); /* 0 on success */

/* safetensors; 0 on success, otherwise dlc_last_error() says why. dlc_load reads every
 * parameter and optimiser state tensor (a file of another model changes nothing) and keeps
 * how the checkpoint's rows were prepared (dlc.prep, dlc.features, dlc.standardize.*), which
 * dlc_save writes again: a model fine-tuned here still prepares rows for dlc predict and
 * dlc_prepare_csv. */
int dlc_save(const dlc_model *model, const char *path);
int dlc_load(dlc_model *model, const char *path);

/* New rows for a model trained on a CSV file, prepared as its training data were: the
 * checkpoint of `dlc train --save` records what training learned (the columns read, in the
 * model's order; fill values and categories where the data source prepares its rows, see
 * docs/data.md; means and deviations where it standardises them), and every row of the CSV
 * file at csv_path comes out as `dlc predict` prepares it, in file order; a label column
 * is not read. *x (malloc'd; the caller frees it) gets *rows rows of the model's first
 * input's width. 0 on success, otherwise dlc_last_error() says why (a checkpoint that names
 * no columns, a column the file lacks, a value or category the policy refuses). */
int dlc_prepare_csv(const dlc_model *model, const char *checkpoint, const char *csv_path, float **x, int64_t *rows);

const char *dlc_last_error(void);

/* Threads the compiled code runs on from now on, the caller's included: one pool per
 * process, 1 thread unless the DLC_THREADS environment variable (read at the first step)
 * or this call says otherwise. Results are bit-identical for any count. Not while a step
 * runs. 0 on success; -1 when n is outside [1, 256] or a thread cannot be started. */
int dlc_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif

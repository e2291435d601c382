/* Every dlc_* entry of dlc.h, implemented once over a dlc_model_desc: the compiled code
 * (AOT in train.so or JIT-ed in dlc) only provides the table and its entry points.
 *
 * A model owns one 64-byte-aligned block, planned once as llm.c does:
 *   params [param_bytes] | grads [param_bytes] | state [state_bytes] | scratch | prediction
 * each part starting on a 64-byte boundary, so compiled kernels may use aligned vector
 * loads. Gradients share the parameters' layout: that makes them one flat buffer for an
 * MPI allreduce. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "rt_prep.h"
#include "rt_threads.h"
#include "rt_train.h"

#define RT_ALIGN 64

/* The checkpoint metadata that says how the model's inputs were prepared (what prediction
 * must redo of the data's reading): kept from dlc_load and written again by dlc_save, so a
 * checkpoint saved after loading one still prepares rows for dlc predict and dlc_prepare_csv. */
static const char *const preparation_keys[] = {RT_META_PREP, RT_META_FEATURES, RT_META_MEAN, RT_META_STD};
enum { NPREPARATION = sizeof preparation_keys / sizeof preparation_keys[0] };

struct dlc_model {
  const dlc_model_desc *desc;
  unsigned char *block;
  void *params, *grads, *state, *scratch, *prediction;
  char *preparation[NPREPARATION]; /* values of preparation_keys from the last dlc_load, or NULL */
};

static size_t round_up(size_t n) { return (n + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN; }

static size_t tensor_bytes(const dlc_tensor_desc *t) {
  return (size_t)rt_numel(t->rank, t->shape) * rt_dtype_size(t->dtype);
}

/* Checks one group of tensors (params or state) against the block that holds it. */
static int check_group(const char *what, const dlc_tensor_desc *ts, int n, size_t block_bytes) {
  if (n > 0 && !ts) {
    rt_set_error("invalid model description: %d %s but no table", n, what);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    const dlc_tensor_desc *t = &ts[i];
    if (!t->name) {
      rt_set_error("invalid model description: %s %d has no name", what, i);
      return -1;
    }
    if (rt_numel(t->rank, t->shape) < 0 || rt_dtype_size(t->dtype) == 0) {
      rt_set_error("invalid model description: %s '%s' has an invalid dtype or shape", what, t->name);
      return -1;
    }
    size_t bytes = tensor_bytes(t);
    if (t->offset > block_bytes || bytes > block_bytes - t->offset) {
      rt_set_error("invalid model description: %s '%s' (%zu bytes at offset %zu) lies outside its block of %zu "
                   "bytes",
                   what, t->name, bytes, t->offset, block_bytes);
      return -1;
    }
    if (t->offset % rt_dtype_size(t->dtype) != 0) {
      rt_set_error("invalid model description: %s '%s' is misaligned (offset %zu)", what, t->name, t->offset);
      return -1;
    }
  }
  return 0;
}

/* Inputs have names and shapes; an index bound only on an integer input. */
static int check_inputs(const dlc_tensor_desc *ts, int n) {
  if (n > 0 && !ts) {
    rt_set_error("invalid model description: %d inputs but no table", n);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    const dlc_tensor_desc *t = &ts[i];
    if (!t->name || rt_numel(t->rank, t->shape) < 0 || rt_dtype_size(t->dtype) == 0) {
      rt_set_error("invalid model description: input %d has no name or an invalid dtype or shape", i);
      return -1;
    }
    if (t->index_bound < 0 || (t->index_bound > 0 && t->dtype != DLC_I32 && t->dtype != DLC_I64)) {
      rt_set_error("invalid model description: input '%s' has an index bound but is not an integer tensor", t->name);
      return -1;
    }
  }
  return 0;
}

static int check_desc(const dlc_model_desc *d) {
  if (!d) {
    rt_set_error("no model description");
    return -1;
  }
  if (d->abi_version != DLC_ABI_VERSION) {
    rt_set_error("the model was compiled for ABI version %d, this runtime implements version %d", d->abi_version,
                 DLC_ABI_VERSION);
    return -1;
  }
  if (d->ninputs < 0 || d->nparams < 0 || d->nstate < 0) {
    rt_set_error("invalid model description: negative tensor count");
    return -1;
  }
  if (check_inputs(d->inputs, d->ninputs) != 0 || check_group("parameter", d->params, d->nparams, d->param_bytes) != 0 ||
      check_group("state tensor", d->state, d->nstate, d->state_bytes) != 0)
    return -1;
  /* Checkpoints name every parameter and state tensor: names must be unique across both. */
  int total = d->nparams + d->nstate;
  for (int i = 0; i < total; i++) {
    const char *a = i < d->nparams ? d->params[i].name : d->state[i - d->nparams].name;
    for (int j = 0; j < i; j++) {
      const char *b = j < d->nparams ? d->params[j].name : d->state[j - d->nparams].name;
      if (!strcmp(a, b)) {
        rt_set_error("invalid model description: two tensors are called '%s'", a);
        return -1;
      }
    }
  }
  if (d->step_counter_offset >= 0 && (size_t)d->step_counter_offset + sizeof(float) > d->state_bytes) {
    rt_set_error("invalid model description: the step counter lies outside the state block");
    return -1;
  }
  if (rt_numel(d->prediction.rank, d->prediction.shape) < 0 ||
      (rt_dtype_size(d->prediction.dtype) == 0 && d->prediction.rank > 0)) {
    rt_set_error("invalid model description: the prediction has an invalid dtype or shape");
    return -1;
  }
  return 0;
}

dlc_model *dlc_create_from(const dlc_model_desc *desc, uint64_t seed) {
  if (check_desc(desc) != 0) return NULL;
  size_t pbytes = round_up(desc->param_bytes), sbytes = round_up(desc->state_bytes);
  size_t scratch = round_up(desc->scratch_bytes), pred = round_up(tensor_bytes(&desc->prediction));
  size_t total = 2 * pbytes + sbytes + scratch + pred;
  dlc_model *m = calloc(1, sizeof *m);
  /* Zeroed: state starts at zero, and so do padding and gradients. */
  unsigned char *block = m ? rt_alloc_zeroed(total) : NULL;
  if (!block) {
    free(m);
    rt_set_error("out of memory: the model needs %zu bytes", total);
    return NULL;
  }
  m->desc = desc;
  m->block = block;
  m->params = block;
  m->grads = block + pbytes;
  m->state = block + 2 * pbytes;
  m->scratch = block + 2 * pbytes + sbytes;
  m->prediction = block + 2 * pbytes + sbytes + scratch;
  for (int i = 0; i < desc->nparams; i++) {
    const dlc_tensor_desc *p = &desc->params[i];
    dlc_tensor t = {.name = p->name, .dtype = p->dtype, .rank = p->rank, .data = (char *)m->params + p->offset};
    memcpy(t.shape, p->shape, sizeof t.shape);
    if (rt_init_tensor(p->init, &t, seed) != 0) {
      rt_prefix_error("parameter '%s': ", p->name);
      dlc_destroy(m);
      return NULL;
    }
  }
  return m;
}

static void forget_preparation(dlc_model *model) {
  for (int i = 0; i < NPREPARATION; i++) {
    free(model->preparation[i]);
    model->preparation[i] = NULL;
  }
}

void dlc_destroy(dlc_model *model) {
  if (!model) return;
  forget_preparation(model);
  free(model->block);
  free(model);
}

static void fill_frame(dlc_model *m, dlc_frame *f, const void *const inputs[], float *loss, void *prediction) {
  f->inputs = inputs;
  f->params = m->params;
  f->state = m->state;
  f->grads = m->grads;
  f->scratch = m->scratch;
  f->loss = loss;
  f->prediction = prediction;
}

static int64_t index_at(const dlc_tensor_desc *t, const void *data, int64_t e) {
  return t->dtype == DLC_I32 ? ((const int32_t *)data)[e] : ((const int64_t *)data)[e];
}

/* The first of the n values of index input t outside [0, index_bound), or n. The usual case,
 * none, is one branch-free pass (vector code, CMakeLists.txt: 30 ns for 256 labels, where a
 * loop that stops at the first costs 100, 1 % of W2's step). */
static int64_t first_outside(const dlc_tensor_desc *t, const void *data, int64_t n) {
  int outside = 0;
  if (t->dtype == DLC_I32) { /* negative values are large unsigned ones */
    uint32_t bound = t->index_bound > INT32_MAX ? (uint32_t)INT32_MAX + 1 : (uint32_t)t->index_bound;
    for (int64_t e = 0; e < n; e++) outside |= (uint32_t)((const int32_t *)data)[e] >= bound;
  } else {
    for (int64_t e = 0; e < n; e++) outside |= (uint64_t)((const int64_t *)data)[e] >= (uint64_t)t->index_bound;
  }
  int64_t e = 0;
  while (outside && index_at(t, data, e) >= 0 && index_at(t, data, e) < t->index_bound) e++;
  return outside ? e : n;
}

/* Whether the inputs that `entry` (a DLC_ENTRY_* bit) reads are given and each index input
 * among them lies in its bound: compiled code reads an index outside it at the nearest valid
 * place, which would train on the wrong class without a word. Else the error names the
 * input, the element and the bound. */
static int inputs_valid(const dlc_model_desc *d, unsigned entry, const char *what, const void *const inputs[]) {
  for (int i = 0; i < d->ninputs; i++) {
    const dlc_tensor_desc *t = &d->inputs[i];
    if (!(t->read_by & entry)) continue;
    if (!inputs[i]) {
      rt_set_error("%s: input '%s' is NULL", what, t->name);
      return 0;
    }
    int64_t n = t->index_bound > 0 ? rt_numel(t->rank, t->shape) : 0, e = first_outside(t, inputs[i], n);
    if (e < n) {
      rt_set_error("%s: input '%s' holds %lld at element %lld, outside [0, %lld): the range of the axis it indexes",
                   what, t->name, (long long)index_at(t, inputs[i], e), (long long)e, (long long)t->index_bound);
      return 0;
    }
  }
  return 1;
}

/* Runs one entry point (`which`, its DLC_ENTRY_* bit); NaN (and an error) when the model or
 * the entry is missing, or an input is (inputs_valid). */
static float run_entry(dlc_model *m, dlc_entry entry, unsigned which, const char *what, const void *const inputs[],
                       void *prediction) {
  int takes_inputs = which != DLC_ENTRY_APPLY;
  if (!m) {
    rt_set_error("%s: no model", what);
    return NAN;
  }
  if (!entry) {
    rt_set_error("%s: the model was compiled without this entry point", what);
    return NAN;
  }
  if (takes_inputs && !inputs && m->desc->ninputs > 0) {
    rt_set_error("%s: no inputs given (the model takes %d)", what, m->desc->ninputs);
    return NAN;
  }
  if (takes_inputs && !inputs_valid(m->desc, which, what, inputs)) {
    const dlc_tensor_desc *pd = &m->desc->prediction;
    int64_t n = prediction && pd->dtype == DLC_F32 ? rt_numel(pd->rank, pd->shape) : 0;
    for (int64_t e = 0; e < n; e++) ((float *)prediction)[e] = NAN; /* no stale prediction that looks right */
    return NAN;
  }
  float loss = NAN;
  dlc_frame f;
  fill_frame(m, &f, inputs, &loss, prediction ? prediction : m->prediction);
  entry(&f);
  return loss;
}

float dlc_train_step(dlc_model *model, const void *const inputs[]) {
  return run_entry(model, model ? model->desc->train_step : NULL, DLC_ENTRY_TRAIN_STEP, "dlc_train_step", inputs, NULL);
}

float dlc_eval_loss(dlc_model *model, const void *const inputs[]) {
  return run_entry(model, model ? model->desc->eval_loss : NULL, DLC_ENTRY_EVAL_LOSS, "dlc_eval_loss", inputs, NULL);
}

void dlc_forward(dlc_model *model, const void *const inputs[], float *output) {
  if (!output) {
    rt_set_error("dlc_forward: no output buffer");
    return;
  }
  run_entry(model, model ? model->desc->forward : NULL, DLC_ENTRY_FORWARD, "dlc_forward", inputs, output);
}

float dlc_gradients(dlc_model *model, const void *const inputs[]) {
  return run_entry(model, model ? model->desc->gradients : NULL, DLC_ENTRY_GRADIENTS, "dlc_gradients", inputs, NULL);
}

void dlc_apply(dlc_model *model) {
  run_entry(model, model ? model->desc->apply : NULL, DLC_ENTRY_APPLY, "dlc_apply", NULL, NULL);
}

float *dlc_grad_buffer(dlc_model *model, int64_t *count) {
  if (count) *count = 0;
  if (!model) {
    rt_set_error("dlc_grad_buffer: no model");
    return NULL;
  }
  for (int i = 0; i < model->desc->nparams; i++)
    if (model->desc->params[i].dtype != DLC_F32) {
      rt_set_error("dlc_grad_buffer: parameter '%s' is %s; the flat gradient buffer is f32 only",
                   model->desc->params[i].name, rt_dtype_name(model->desc->params[i].dtype));
      return NULL;
    }
  /* Padding between parameters is included: it is zero and stays zero under a sum. */
  if (count) *count = (int64_t)(model->desc->param_bytes / sizeof(float));
  return model->grads;
}

int dlc_num_params(const dlc_model *model) { return model ? model->desc->nparams : 0; }

static void to_tensor(const dlc_tensor_desc *d, void *block, dlc_tensor *out) {
  out->name = d->name;
  out->dtype = d->dtype;
  out->rank = d->rank;
  memset(out->shape, 0, sizeof out->shape);
  memcpy(out->shape, d->shape, sizeof(int64_t) * (size_t)d->rank);
  out->data = (char *)block + d->offset;
}

int dlc_param(const dlc_model *model, int index, dlc_tensor *out) {
  if (!model || !out) {
    rt_set_error("dlc_param: no %s", model ? "tensor to describe the parameter in (out is NULL)" : "model");
    return -1;
  }
  if (index < 0 || index >= model->desc->nparams) {
    rt_set_error("dlc_param: no parameter %d (the model has %d)", index, model->desc->nparams);
    return -1;
  }
  to_tensor(&model->desc->params[index], model->params, out);
  return 0;
}

const dlc_model_desc *rt_model_desc(const dlc_model *model) { return model ? model->desc : NULL; }

int rt_model_num_state(const dlc_model *model) { return model ? model->desc->nstate : 0; }

int rt_model_state(const dlc_model *model, int index, dlc_tensor *out) {
  if (!model || !out || index < 0 || index >= model->desc->nstate) {
    rt_set_error("no state tensor %d (the model has %d)", index, model ? model->desc->nstate : 0);
    return -1;
  }
  to_tensor(&model->desc->state[index], model->state, out);
  return 0;
}

/* The step counter is saved as a tensor of its own unless a state tensor covers it. */
#define STEP_TENSOR "optimizer.step"

static int step_counter_is_separate(const dlc_model_desc *d) {
  if (d->step_counter_offset < 0) return 0;
  for (int i = 0; i < d->nstate; i++) {
    size_t off = d->state[i].offset, end = off + tensor_bytes(&d->state[i]);
    if ((size_t)d->step_counter_offset >= off && (size_t)d->step_counter_offset < end) return 0;
  }
  return 1;
}

/* Every parameter and state tensor of the model, pointing into params and state. */
static dlc_tensor *checkpoint_tensors(const dlc_model *m, void *params, void *state, int *n) {
  const dlc_model_desc *d = m->desc;
  int extra = step_counter_is_separate(d);
  dlc_tensor *ts = calloc((size_t)(d->nparams + d->nstate + extra + 1), sizeof *ts);
  if (!ts) {
    rt_set_error("out of memory");
    return NULL;
  }
  for (int i = 0; i < d->nparams; i++) to_tensor(&d->params[i], params, &ts[i]);
  for (int i = 0; i < d->nstate; i++) to_tensor(&d->state[i], state, &ts[d->nparams + i]);
  if (extra)
    ts[d->nparams + d->nstate] = (dlc_tensor){.name = STEP_TENSOR, .dtype = DLC_F32, .rank = 0,
                                              .data = (char *)state + d->step_counter_offset};
  *n = d->nparams + d->nstate + extra;
  return ts;
}

int rt_model_save(const dlc_model *model, const char *path, const rt_meta *meta, int nmeta) {
  if (!model || !path) {
    rt_set_error("dlc_save: no model or no path");
    return -1;
  }
  int n;
  dlc_tensor *ts = checkpoint_tensors(model, model->params, model->state, &n);
  if (!ts) return -1;
  rt_meta *all = calloc((size_t)nmeta + 2 + NPREPARATION, sizeof *all);
  if (!all) {
    free(ts);
    rt_set_error("out of memory");
    return -1;
  }
  char abi[16];
  snprintf(abi, sizeof abi, "%d", DLC_ABI_VERSION);
  all[0] = (rt_meta){"format", "dlc"};
  all[1] = (rt_meta){"dlc.abi_version", abi};
  int nall = 2;
  for (int i = 0; i < nmeta; i++) all[nall++] = meta[i];
  for (int k = 0; k < NPREPARATION; k++) {
    bool given = false;
    for (int i = 0; i < nmeta && !given; i++) given = !strcmp(meta[i].key, preparation_keys[k]);
    if (model->preparation[k] && !given) all[nall++] = (rt_meta){preparation_keys[k], model->preparation[k]};
  }
  int rc = rt_st_save(path, ts, n, all, nall);
  free(all);
  free(ts);
  return rc;
}

int dlc_save(const dlc_model *model, const char *path) { return rt_model_save(model, path, NULL, 0); }

/* Copies of f's preparation metadata (NULL where absent). */
static int read_preparation(rt_st_file *f, char *out[NPREPARATION]) {
  for (int i = 0; i < NPREPARATION; i++) {
    const char *v = rt_st_meta_get(f, preparation_keys[i]);
    if (v && !(out[i] = strdup(v))) {
      while (i--) free(out[i]);
      rt_set_error("out of memory");
      return -1;
    }
  }
  return 0;
}

/* Reads a checkpoint into copies first, so that a bad or truncated file leaves the model as
 * it was: every parameter and state tensor, or (params_only) the parameters alone. */
static int load(dlc_model *model, const char *path, bool params_only) {
  if (!model || !path) {
    rt_set_error("dlc_load: no model or no path");
    return -1;
  }
  const dlc_model_desc *d = model->desc;
  size_t pb = d->param_bytes, sb = d->state_bytes;
  unsigned char *copy = malloc(pb + sb + 1);
  if (!copy) {
    rt_set_error("out of memory");
    return -1;
  }
  memcpy(copy, model->params, pb);
  memcpy(copy + pb, model->state, sb);
  int n, rc = -1;
  dlc_tensor *ts = checkpoint_tensors(model, copy, copy + pb, &n);
  rt_st_file *f = NULL;
  char *preparation[NPREPARATION] = {0};
  if (ts && rt_st_open(path, &f) == 0 &&
      (params_only ? rt_st_load_some(f, ts, d->nparams) : rt_st_load_into(f, ts, n)) == 0 &&
      read_preparation(f, preparation) == 0) {
    memcpy(model->params, copy, pb);
    memcpy(model->state, copy + pb, sb);
    forget_preparation(model);
    memcpy(model->preparation, preparation, sizeof preparation);
    rc = 0;
  }
  rt_st_close(f);
  free(ts);
  free(copy);
  return rc;
}

int dlc_load(dlc_model *model, const char *path) { return load(model, path, false); }

int rt_model_load_params(dlc_model *model, const char *path) { return load(model, path, true); }

int dlc_set_threads(int n) {
  if (n < 1 || n > 256) {
    rt_set_error("dlc_set_threads: %d threads; give 1 to 256", n);
    return -1;
  }
  return rt_threads_set(n);
}

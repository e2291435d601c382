/* The memplan report: the backend's planner (be_plan.c, the only one) run over every entry
 * of a module, its result written into the module's meta entries so that
 * `--print-after=memplan` shows it and it round-trips as text:
 *
 *   meta memplan.train_step = "peak 2099200 bytes = params 203560 + grads 203560 + state 0
 *        + scratch 1076288; lower bound 1758720 = params + grads + 1351600 live at once; ..."
 *   meta memplan.train_step.b00 = "%19 f32[256,256] 262144 bytes at 0, kernels 3..5"
 *
 * Peak is what the runtime allocates for the entry: one block per model (parameters,
 * gradients, optimiser state, scratch), allocated once, never per step. The lower bound
 * is parameters + gradients + state + the most activation bytes live at one time; the
 * placement's scratch is never below that sum, and equal when reuse is perfect. */
#include <stdlib.h>
#include <string.h>

#include "be_internal.h"

static void put(ir_module *m, const char *key, const char *value) {
  ir_module_set_meta(m, key, value);
}

static void report_entry(ir_module *m, const be_entry_spec *spec, const be_model *mo,
                         const be_plan *p) {
  size_t params = mo->desc.param_bytes, state = mo->desc.state_bytes;
  size_t peak = 2 * params + state + p->scratch_bytes;
  size_t bound = 2 * params + state + p->live_max_bytes;
  int kernels = p->ngroups, inplace = 0, copies = p->nstart + p->nend;
  for (int i = 0; i < p->f->nupdates; i++) {
    const ir_node *v = p->f->updates[i].value, *t = p->f->updates[i].target;
    if (spec->keep_updates && p->loc[v->id].base == p->loc[t->id].base &&
        p->loc[v->id].offset == p->loc[t->id].offset && v != t)
      inplace++;
  }
  char key[128], value[512];
  snprintf(key, sizeof key, "memplan.%s", spec->entry);
  snprintf(value, sizeof value,
           "peak %zu bytes = params %zu + grads %zu + state %zu + scratch %zu; lower bound %zu = "
           "params + grads + state + %zu live at once; %d buffers, %d kernels, %d updates in place, "
           "%d copies",
           peak, params, params, state, p->scratch_bytes, bound, p->live_max_bytes, p->nbuffers,
           kernels, inplace, copies);
  put(m, key, value);
  int *numbers = ir_value_numbers(p->f);
  for (int i = 0; i < p->nbuffers; i++) {
    const be_buffer *b = &p->buffers[i];
    char label[64] = "(snapshot)", type[IR_TYPE_STR_MAX] = "";
    if (b->id <= -2) snprintf(label, sizeof label, "(panels of kernel %d)", -2 - b->id);
    for (int j = 0; b->id >= 0 && j < p->f->nbody; j++)
      if (p->f->body[j]->id == b->id) {
        ir_value_label(p->f->body[j], numbers, label, sizeof label);
        ir_type_str(&p->f->body[j]->type, type, sizeof type);
      }
    snprintf(key, sizeof key, "memplan.%s.b%02d", spec->entry, i);
    if (b->start < 0)
      snprintf(value, sizeof value, "%s %s %zu bytes at %zu, kernels start..%d", label, type,
               b->bytes, b->offset, b->end);
    else
      snprintf(value, sizeof value, "%s%s%s %zu bytes at %zu, kernels %d..%d", label, *type ? " " : "",
               type, b->bytes, b->offset, b->start, b->end);
    put(m, key, value);
  }
  free(numbers);
}

bool be_memplan_annotate(ir_module *m, ir_error *err) {
  be_model mo;
  if (!be_model_build(m, &mo, err)) return false;
  bool ok = true;
  for (int e = 0; ok && e < BE_NENTRIES; e++) {
    const ir_func *f = ir_module_find_func(m, be_entries[e].func);
    if (!f) continue;
    if (e == 2 && !ir_func_find_output(f, "prediction")) continue;
    if (e == 1 && !ir_func_find_output(f, "loss")) continue;
    be_plan p;
    ok = be_plan_build(f, &be_entries[e], &mo, &p, err);
    if (!ok) break;
    report_entry(m, &be_entries[e], &mo, &p);
    be_plan_free(&p);
  }
  be_model_free(&mo);
  return ok;
}

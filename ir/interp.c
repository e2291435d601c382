/* The reference interpreter's driver: one f64 buffer per node of a function, filled in
 * body order by the kernels of interp_ops.c. Argument buffers persist across runs so a
 * caller (the gradient checker) can nudge one element and evaluate again. */
#include "interp.h"

#include <stdlib.h>
#include <string.h>

struct ir_interp {
  const ir_func *f;
  int nvalues;     /* f->next_id when created */
  double **values; /* by node id; NULL for ids not in the function */
  bool ran;
};

static double *alloc_value(const ir_type *t) {
  int64_t n = ir_type_numel(t);
  return calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}

ir_interp *ir_interp_create(const ir_func *f) {
  ir_interp *in = calloc(1, sizeof *in);
  if (!in) return NULL;
  in->f = f;
  in->nvalues = f->next_id;
  in->values = calloc((size_t)(in->nvalues ? in->nvalues : 1), sizeof *in->values);
  if (!in->values) {
    free(in);
    return NULL;
  }
  for (int i = 0; i < f->nargs; i++) {
    if (!(in->values[f->args[i]->id] = alloc_value(&f->args[i]->type))) {
      ir_interp_destroy(in);
      return NULL;
    }
  }
  return in;
}

void ir_interp_destroy(ir_interp *in) {
  if (!in) return;
  for (int i = 0; i < in->nvalues; i++) free(in->values[i]);
  free(in->values);
  free(in);
}

double *ir_interp_arg(ir_interp *in, const char *name) {
  ir_node *a = ir_func_find_arg(in->f, name);
  return a ? in->values[a->id] : NULL;
}

bool ir_interp_set_arg(ir_interp *in, const char *name, const double *data, int64_t n,
                       ir_error *err) {
  ir_node *a = ir_func_find_arg(in->f, name);
  if (!a) {
    ir_error_set(err, (ir_loc){0}, "@%s has no argument %%%s", in->f->name, name);
    return false;
  }
  int64_t want = ir_type_numel(&a->type);
  if (n != want) {
    char t[IR_TYPE_STR_MAX];
    ir_error_set(err, a->loc, "argument %%%s of @%s is %s: %lld values expected, got %lld", name,
                 in->f->name, ir_type_str(&a->type, t, sizeof t), (long long)want, (long long)n);
    return false;
  }
  memcpy(in->values[a->id], data, (size_t)n * sizeof *data);
  return true;
}

bool ir_interp_run(ir_interp *in, ir_error *err) {
  const ir_func *f = in->f;
  in->ran = false;
  if (f->next_id != in->nvalues) {
    ir_error_set(err, (ir_loc){0}, "@%s changed after its interpreter was created", f->name);
    return false;
  }
  for (int i = 0; i < f->nbody; i++) {
    const ir_node *n = f->body[i];
    if (!in->values[n->id]) {
      in->values[n->id] = alloc_value(&n->type);
      if (!in->values[n->id]) {
        ir_error_set(err, n->loc, "out of memory for a value of @%s", f->name);
        return false;
      }
    }
    const double *fixed[4];
    const double **args = n->nargs <= 4 ? fixed : malloc((size_t)n->nargs * sizeof *args);
    if (!args) {
      ir_error_set(err, n->loc, "out of memory");
      return false;
    }
    bool ok = true;
    for (int j = 0; j < n->nargs && ok; j++) {
      args[j] = in->values[n->args[j]->id];
      if (!args[j]) {
        ir_error_set(err, n->loc, "in @%s, an operand of '%s' is used before it is defined",
                     f->name, ir_ops[n->op].name);
        ok = false;
      }
    }
    if (ok) ok = ir_interp_eval_node(n, args, in->values[n->id], err);
    if (args != fixed) free(args);
    if (!ok) return false;
  }
  in->ran = true;
  return true;
}

const double *ir_interp_value(const ir_interp *in, const ir_node *n) {
  if (n->id < 0 || n->id >= in->nvalues) return NULL;
  return in->values[n->id];
}

const double *ir_interp_output(const ir_interp *in, const char *name, ir_type *type) {
  if (!in->ran) return NULL;
  ir_node *v = ir_func_find_output(in->f, name);
  if (!v) return NULL;
  if (type) *type = v->type;
  return ir_interp_value(in, v);
}

const double *ir_interp_update(const ir_interp *in, const char *target, ir_type *type) {
  if (!in->ran) return NULL;
  for (int i = 0; i < in->f->nupdates; i++) {
    const ir_update *u = &in->f->updates[i];
    if (strcmp(u->target->name, target) == 0) {
      if (type) *type = u->value->type;
      return ir_interp_value(in, u->value);
    }
  }
  return NULL;
}

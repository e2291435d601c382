/* The verifier: everything a pass may assume about IR, checked in one place.
 *
 * Runs after the parser, after the frontend, and after every pass in tests and debug
 * builds, so a broken invariant is reported by the pass that broke it rather than by
 * a crash three passes later. Messages name the function, the value and the op. */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  const ir_func *f;
  const ir_node **defined; /* defined[id] == node once node is defined */
  int *numbers;
  ir_error *err;
} verifier;

static const char *label(verifier *v, const ir_node *n, char *buf) {
  return ir_value_label(n, v->numbers, buf, 80);
}

static bool is_defined(verifier *v, const ir_node *n) {
  return n && n->id >= 0 && n->id < v->f->next_id && v->defined[n->id] == n;
}

static bool define(verifier *v, const ir_node *n, const char *what) {
  if (n->id < 0 || n->id >= v->f->next_id) {
    ir_error_set(v->err, n->loc, "in @%s: %s has id %d outside the function's %d", v->f->name,
                 what, n->id, v->f->next_id);
    return false;
  }
  if (v->defined[n->id]) {
    char a[80];
    ir_error_set(v->err, n->loc, "in @%s: %s %s is defined twice", v->f->name, what,
                 v->defined[n->id] == n ? label(v, n, a) : "(a node sharing its id)");
    return false;
  }
  v->defined[n->id] = n;
  return true;
}

static bool check_args(verifier *v) {
  const ir_func *f = v->f;
  for (int i = 0; i < f->nargs; i++) {
    const ir_node *a = f->args[i];
    if (ir_ops[a->op].kind != IR_KIND_ARG || !a->name || a->nargs != 0) {
      ir_error_set(v->err, a->loc, "in @%s: argument %d is not an input, param or state", f->name, i);
      return false;
    }
    for (int j = 0; j < i; j++) {
      if (strcmp(f->args[j]->name, a->name) == 0) {
        ir_error_set(v->err, a->loc, "in @%s: argument %%%s is declared twice", f->name, a->name);
        return false;
      }
    }
    if (!define(v, a, "argument")) return false;
  }
  return true;
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(const ir_node *const *)a)->name, (*(const ir_node *const *)b)->name);
}

/* Sorted, so that a model with many named values verifies in n log n. */
static bool check_names_unique(verifier *v) {
  const ir_func *f = v->f;
  const ir_node **named = malloc((size_t)(f->nargs + f->nbody + 1) * sizeof *named);
  IR_ASSERT(named != NULL);
  int n = 0;
  for (int i = 0; i < f->nargs; i++) named[n++] = f->args[i];
  for (int i = 0; i < f->nbody; i++)
    if (f->body[i] && f->body[i]->name) named[n++] = f->body[i];
  qsort(named, (size_t)n, sizeof *named, by_name);
  const ir_node *clash = NULL;
  for (int i = 1; i < n && !clash; i++)
    if (strcmp(named[i - 1]->name, named[i]->name) == 0) clash = named[i];
  free(named);
  if (clash) {
    ir_error_set(v->err, clash->loc, "in @%s: the name %%%s is used twice", f->name, clash->name);
    return false;
  }
  return true;
}

static bool check_node(verifier *v, const ir_node *n) {
  if (n->op >= IR_OP_COUNT || ir_ops[n->op].kind == IR_KIND_ARG) {
    ir_error_set(v->err, n->loc, "in @%s: a function argument op appears in the body", v->f->name);
    return false;
  }
  if (n->id < 0 || n->id >= v->f->next_id) {
    ir_error_set(v->err, n->loc, "in @%s: a '%s' node belongs to another function", v->f->name,
                 ir_ops[n->op].name);
    return false;
  }
  const ir_op_info *info = &ir_ops[n->op];
  char self[80];
  label(v, n, self);
  if (info->arity >= 0 ? n->nargs != info->arity : n->nargs < 1) {
    ir_error_set(v->err, n->loc, "in @%s: %s ('%s') has %d operands, expected %s%d", v->f->name,
                 self, info->name, n->nargs, info->arity < 0 ? "at least " : "",
                 info->arity < 0 ? 1 : info->arity);
    return false;
  }
  for (int i = 0; i < n->nargs; i++) {
    const ir_node *a = n->args[i];
    if (!is_defined(v, a)) {
      ir_error_set(v->err, n->loc,
                   "in @%s: %s ('%s'): operand %d is not defined before its use", v->f->name, self,
                   info->name, i + 1);
      return false;
    }
  }
  if (n->kernel < 0) {
    ir_error_set(v->err, n->loc, "in @%s: %s ('%s') has a negative kernel number", v->f->name,
                 self, info->name);
    return false;
  }
  ir_type inferred;
  ir_error rule_err;
  if (!ir_infer_type(n, &inferred, &rule_err)) {
    ir_error_set(v->err, n->loc, "in @%s: %s: %s", v->f->name, self, rule_err.msg);
    return false;
  }
  if (!ir_type_equal(&inferred, &n->type)) {
    char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
    ir_error_set(v->err, n->loc, "in @%s: %s ('%s') has type %s, but its operands give %s",
                 v->f->name, self, info->name, ir_type_str(&n->type, a, sizeof a),
                 ir_type_str(&inferred, b, sizeof b));
    return false;
  }
  return define(v, n, "value");
}

static bool check_outputs(verifier *v) {
  const ir_func *f = v->f;
  for (int i = 0; i < f->noutputs; i++) {
    const ir_output *o = &f->outputs[i];
    if (!is_defined(v, o->value)) {
      ir_error_set(v->err, (ir_loc){0}, "in @%s: output '%s' is not a value of the function",
                   f->name, o->name);
      return false;
    }
    for (int j = 0; j < i; j++) {
      if (strcmp(f->outputs[j].name, o->name) == 0) {
        ir_error_set(v->err, o->value->loc, "in @%s: output '%s' is given twice", f->name, o->name);
        return false;
      }
    }
  }
  return true;
}

static bool check_updates(verifier *v) {
  const ir_func *f = v->f;
  for (int i = 0; i < f->nupdates; i++) {
    const ir_update *u = &f->updates[i];
    char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
    if (!is_defined(v, u->target) || (u->target->op != IR_OP_PARAM && u->target->op != IR_OP_STATE)) {
      ir_error_set(v->err, (ir_loc){0},
                   "in @%s: update %d does not target a param or state argument", f->name, i + 1);
      return false;
    }
    if (!is_defined(v, u->value)) {
      ir_error_set(v->err, u->target->loc, "in @%s: the update of %%%s uses an undefined value",
                   f->name, u->target->name);
      return false;
    }
    if (!ir_type_equal(&u->target->type, &u->value->type)) {
      ir_error_set(v->err, u->value->loc, "in @%s: the update of %%%s (%s) has type %s", f->name,
                   u->target->name, ir_type_str(&u->target->type, a, sizeof a),
                   ir_type_str(&u->value->type, b, sizeof b));
      return false;
    }
    for (int j = 0; j < i; j++) {
      if (f->updates[j].target == u->target) {
        ir_error_set(v->err, u->value->loc, "in @%s: %%%s is updated twice", f->name,
                     u->target->name);
        return false;
      }
    }
  }
  return true;
}

bool ir_verify_func(const ir_func *f, ir_error *err) {
  verifier v = {.f = f, .err = err};
  v.defined = calloc((size_t)(f->next_id ? f->next_id : 1), sizeof *v.defined);
  v.numbers = ir_value_numbers(f);
  IR_ASSERT(v.defined != NULL);
  bool ok = check_args(&v) && check_names_unique(&v);
  for (int i = 0; ok && i < f->nbody; i++) {
    if (!f->body[i]) {
      ir_error_set(err, (ir_loc){0}, "in @%s: body slot %d is empty", f->name, i);
      ok = false;
    } else {
      ok = check_node(&v, f->body[i]);
    }
  }
  ok = ok && check_outputs(&v) && check_updates(&v);
  free(v.defined);
  free(v.numbers);
  return ok;
}

bool ir_verify_module(const ir_module *m, ir_error *err) {
  for (int i = 0; i < m->nfuncs; i++) {
    for (int j = 0; j < i; j++) {
      if (strcmp(m->funcs[i]->name, m->funcs[j]->name) == 0) {
        ir_error_set(err, (ir_loc){0}, "function @%s is defined twice", m->funcs[i]->name);
        return false;
      }
    }
    if (!ir_verify_func(m->funcs[i], err)) return false;
  }
  return true;
}

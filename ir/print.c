/* The printer of the tensor IR: the textual form ir_parse reads back, what
 * --print-after-all shows and what `dlc opt` writes. Printing a parsed module and parsing
 * it again gives the same text, byte for byte.
 *
 *   meta KEY = "STRING"
 *
 *   func @NAME(%ARG: TYPE ROLE, ...) {
 *     %V = OP %A, %B ATTRS : TYPE [kernel(N)] [loc(L:C)]
 *     output NAME = %V
 *     update %PARAM = %V
 *   }
 *
 * Unnamed values print as %0, %1, ... counting unnamed body nodes in order (the numbers
 * ir_value_numbers gives). A name a pass left invalid or duplicated is repaired in the
 * output only (sanitised, then made unique with a .N suffix), so whatever the printer
 * writes parses. */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- value names ------------------------------------------------------------------- */

static bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9') || c == '.'; }

static bool valid_name(const char *s) {
  if (!s || !is_ident_start(s[0])) return false;
  for (s++; *s; s++)
    if (!is_ident_char(*s)) return false;
  return true;
}

static bool all_digits(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return false;
  return true;
}

/* Open-addressing set of names; `taken` marks names already given to a value. */
typedef struct {
  const char *s;
  bool taken;
} name_slot;

typedef struct {
  name_slot *slots;
  size_t mask;
} name_set;

static size_t hash_str(const char *s) {
  size_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static name_slot *name_find(name_set *set, const char *s) {
  for (size_t i = hash_str(s) & set->mask;; i = (i + 1) & set->mask)
    if (!set->slots[i].s || strcmp(set->slots[i].s, s) == 0) return &set->slots[i];
}

/* How each value of one function prints. */
typedef struct {
  const ir_func *f;
  const ir_node **node_of; /* by id: the node that owns the id, to reject foreign operands */
  const char **name_of;    /* by id: the printed name, NULL for a numbered value */
  int *number_of;          /* by id: the printed number of an unnamed body node */
  char **owned;            /* names made here, freed with the namer */
  int nowned;
} namer;

static bool in_func(const namer *nm, const ir_node *n) {
  return n && n->id >= 0 && n->id < nm->f->next_id && nm->node_of[n->id] == n;
}

/* A printable version of a name a pass may have left invalid: bad characters become
 * '_', and a leading digit or '.' gets a '_' in front. */
static char *sanitize(const char *s) {
  size_t len = strlen(s);
  char *out = malloc(len + 2), *o = out;
  IR_ASSERT(out != NULL);
  if (!is_ident_start(s[0])) *o++ = '_';
  for (; *s; s++)
    *o++ = is_ident_char(*s) ? *s : '_';
  *o = '\0';
  return out;
}

static void namer_init(namer *nm, const ir_func *f) {
  int ids = f->next_id > 0 ? f->next_id : 1;
  int count = f->nargs + f->nbody;
  nm->f = f;
  nm->node_of = calloc((size_t)ids, sizeof *nm->node_of);
  nm->name_of = calloc((size_t)ids, sizeof *nm->name_of);
  nm->number_of = calloc((size_t)ids, sizeof *nm->number_of);
  nm->owned = calloc((size_t)count * 2 + 1, sizeof *nm->owned);
  nm->nowned = 0;
  IR_ASSERT(nm->node_of && nm->name_of && nm->number_of && nm->owned);

  /* The name each value wants, in definition order; NULL = numbered. */
  const ir_node **order = malloc(((size_t)count + 1) * sizeof *order);
  const char **want = malloc(((size_t)count + 1) * sizeof *want);
  IR_ASSERT(order && want);
  int next_number = 0;
  for (int i = 0; i < count; i++) {
    bool is_arg = i < f->nargs;
    const ir_node *n = is_arg ? f->args[i] : f->body[i - f->nargs];
    order[i] = n;
    const char *w = n->name;
    if (!is_arg && (!w || !*w || all_digits(w)))
      w = NULL;
    else if (!w || !*w)
      w = "arg";
    else if (!valid_name(w))
      w = nm->owned[nm->nowned++] = sanitize(w);
    want[i] = w;
    if (n->id >= 0 && n->id < f->next_id) {
      nm->node_of[n->id] = n;
      if (!w) nm->number_of[n->id] = next_number;
    }
    if (!w) next_number++;
  }

  /* Every wanted name is reserved first, so a .N suffix never steals a later value's name. */
  size_t cap = 16;
  while (cap < (size_t)count * 4)
    cap *= 2;
  name_set set = {calloc(cap, sizeof(name_slot)), cap - 1};
  IR_ASSERT(set.slots != NULL);
  for (int i = 0; i < count; i++)
    if (want[i]) name_find(&set, want[i])->s = want[i];
  for (int i = 0; i < count; i++) {
    const char *w = want[i];
    if (!w) continue;
    name_slot *slot = name_find(&set, w);
    if (slot->taken) {
      size_t len = strlen(w) + 24;
      char *alt = malloc(len);
      IR_ASSERT(alt != NULL);
      for (int k = 1;; k++) {
        snprintf(alt, len, "%s.%d", w, k);
        slot = name_find(&set, alt);
        if (!slot->s) break;
      }
      slot->s = w = nm->owned[nm->nowned++] = alt;
    }
    slot->taken = true;
    if (in_func(nm, order[i])) nm->name_of[order[i]->id] = w;
  }
  free(set.slots);
  free(order);
  free(want);
}

static void namer_free(namer *nm) {
  for (int i = 0; i < nm->nowned; i++)
    free(nm->owned[i]);
  free(nm->owned);
  free(nm->node_of);
  free(nm->name_of);
  free(nm->number_of);
}

static void print_value(FILE *out, const namer *nm, const ir_node *n) {
  if (!in_func(nm, n))
    fputs("%<not in this function>", out);
  else if (nm->name_of[n->id])
    fprintf(out, "%%%s", nm->name_of[n->id]);
  else
    fprintf(out, "%%%d", nm->number_of[n->id]);
}

/* ---- attributes -------------------------------------------------------------------- */

/* The shortest of %.15g, %.16g and %.17g that reads back as the same double. */
static void print_double(FILE *out, double v) {
  if (isnan(v)) {
    fputs("nan", out);
    return;
  }
  if (isinf(v)) {
    fputs(v < 0 ? "-inf" : "inf", out);
    return;
  }
  char buf[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  fputs(buf, out);
}

static void print_ints(FILE *out, const char *key, const int64_t *v, int n) {
  if (n < 0) n = 0;
  if (n > IR_MAX_RANK) n = IR_MAX_RANK;
  fprintf(out, " %s=[", key);
  for (int i = 0; i < n; i++)
    fprintf(out, i ? ",%lld" : "%lld", (long long)v[i]);
  fputc(']', out);
}

static void print_attrs(FILE *out, const ir_node *n) {
  const ir_attrs *a = &n->attrs;
  switch (ir_ops[n->op].attrs) {
  case IR_ATTR_NONE: break;
  case IR_ATTR_VALUE:
    fputc(' ', out);
    if (a->nvalues == 1 && a->values) {
      print_double(out, a->values[0]);
      break;
    }
    fputc('[', out);
    for (int64_t i = 0; a->values && i < a->nvalues; i++) {
      if (i) fputs(", ", out);
      print_double(out, a->values[i]);
    }
    fputc(']', out);
    break;
  case IR_ATTR_AXIS: fprintf(out, " axis=%lld", (long long)a->axis); break;
  case IR_ATTR_AXES:
    print_ints(out, "axes", a->axes, a->naxes);
    if (a->keepdims) fputs(" keepdims", out);
    break;
  case IR_ATTR_PERM: print_ints(out, "perm", a->axes, a->naxes); break;
  case IR_ATTR_SLICE:
    print_ints(out, "start", a->lo, a->nbounds);
    print_ints(out, "end", a->hi, a->nbounds);
    break;
  case IR_ATTR_PADDING:
    print_ints(out, "lo", a->lo, a->nbounds);
    print_ints(out, "hi", a->hi, a->nbounds);
    break;
  }
}

/* ---- functions and modules ------------------------------------------------------------ */

static void print_node(FILE *out, const namer *nm, const ir_node *n) {
  char type[IR_TYPE_STR_MAX];
  fputs("  ", out);
  print_value(out, nm, n);
  fprintf(out, " = %s", ir_ops[n->op].name);
  for (int i = 0; i < n->nargs; i++) {
    fputs(i ? ", " : " ", out);
    print_value(out, nm, n->args[i]);
  }
  print_attrs(out, n);
  fprintf(out, " : %s", ir_type_str(&n->type, type, sizeof type));
  if (n->kernel) fprintf(out, " kernel(%d)", n->kernel);
  if (n->loc.line || n->loc.col) fprintf(out, " loc(%d:%d)", n->loc.line, n->loc.col);
  fputc('\n', out);
}

void ir_print_func(FILE *out, const ir_func *f) {
  namer nm;
  namer_init(&nm, f);
  char type[IR_TYPE_STR_MAX];
  fprintf(out, "func @%s(", f->name);
  for (int i = 0; i < f->nargs; i++) {
    const ir_node *a = f->args[i];
    if (i) fputs(", ", out);
    print_value(out, &nm, a);
    fprintf(out, ": %s %s", ir_type_str(&a->type, type, sizeof type), ir_ops[a->op].name);
  }
  fputs(") {\n", out);
  for (int i = 0; i < f->nbody; i++)
    print_node(out, &nm, f->body[i]);
  for (int i = 0; i < f->noutputs; i++) {
    fprintf(out, "  output %s = ", f->outputs[i].name);
    print_value(out, &nm, f->outputs[i].value);
    fputc('\n', out);
  }
  for (int i = 0; i < f->nupdates; i++) {
    fputs("  update ", out);
    print_value(out, &nm, f->updates[i].target);
    fputs(" = ", out);
    print_value(out, &nm, f->updates[i].value);
    fputc('\n', out);
  }
  fputs("}\n", out);
  namer_free(&nm);
}

/* "STRING" with \", \\ and \n escaped, as the parser reads it. */
static void print_string(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fprintf(out, "\\%c", *s);
    else if (*s == '\n')
      fputs("\\n", out);
    else
      fputc(*s, out);
  }
  fputc('"', out);
}

void ir_print_module(FILE *out, const ir_module *m) {
  for (int i = 0; i < m->nmeta; i++) {
    fprintf(out, "meta %s = ", m->meta[i].key);
    print_string(out, m->meta[i].value);
    fputc('\n', out);
  }
  for (int i = 0; i < m->nfuncs; i++) {
    if (i || m->nmeta) fputc('\n', out);
    ir_print_func(out, m->funcs[i]);
  }
}

char *ir_module_to_string(const ir_module *m) {
  char *buf = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&buf, &size);
  if (!out) return NULL;
  ir_print_module(out, m);
  if (fclose(out) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

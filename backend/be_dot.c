/* Graphviz DOT of a module: one cluster per function, and inside it one cluster per fused
 * kernel (node->kernel), so the fuse pass's grouping can be seen at a glance. */
#include <stdlib.h>

#include "be_internal.h"

static void node_id(FILE *out, int fi, const ir_node *n) { fprintf(out, "f%d_n%d", fi, n->id); }

static void node_decl(FILE *out, int fi, const ir_node *n, const char *indent) {
  char ty[IR_TYPE_STR_MAX];
  fputs(indent, out);
  node_id(out, fi, n);
  bool arg = ir_ops[n->op].kind == IR_KIND_ARG;
  if (n->name)
    fprintf(out, " [label=\"%%%s\\n%s %s\"", n->name, ir_ops[n->op].name, ir_type_str(&n->type, ty, sizeof ty));
  else
    fprintf(out, " [label=\"%%%d = %s\\n%s\"", n->id, ir_ops[n->op].name, ir_type_str(&n->type, ty, sizeof ty));
  fprintf(out, ", shape=%s];\n", arg ? "ellipse" : "box");
}

void be_emit_dot(FILE *out, const ir_module *m) {
  fputs("digraph dlc {\n  compound=true;\n  node [fontname=\"monospace\", fontsize=10];\n", out);
  for (int fi = 0; fi < m->nfuncs; fi++) {
    const ir_func *f = m->funcs[fi];
    fprintf(out, "  subgraph cluster_f%d {\n    label=\"@%s\";\n", fi, f->name);
    for (int i = 0; i < f->nargs; i++) node_decl(out, fi, f->args[i], "    ");
    int maxk = 0;
    for (int i = 0; i < f->nbody; i++)
      if (f->body[i]->kernel > maxk) maxk = f->body[i]->kernel;
    for (int k = 1; k <= maxk; k++) {
      bool any = false;
      for (int i = 0; i < f->nbody && !any; i++) any = f->body[i]->kernel == k;
      if (!any) continue;
      fprintf(out, "    subgraph cluster_f%d_k%d {\n      label=\"kernel(%d)\";\n      style=filled;"
                   " fillcolor=\"#eef4ff\";\n",
              fi, k, k);
      for (int i = 0; i < f->nbody; i++)
        if (f->body[i]->kernel == k) node_decl(out, fi, f->body[i], "      ");
      fputs("    }\n", out);
    }
    for (int i = 0; i < f->nbody; i++)
      if (f->body[i]->kernel <= 0) node_decl(out, fi, f->body[i], "    ");
    for (int i = 0; i < f->noutputs; i++) {
      fprintf(out, "    f%d_out%d [label=\"output %s\", shape=plaintext];\n    ", fi, i, f->outputs[i].name);
      node_id(out, fi, f->outputs[i].value);
      fprintf(out, " -> f%d_out%d;\n", fi, i);
    }
    for (int i = 0; i < f->nupdates; i++) {
      fprintf(out, "    f%d_upd%d [label=\"update %%%s\", shape=plaintext];\n    ", fi, i,
              f->updates[i].target->name ? f->updates[i].target->name : "?");
      node_id(out, fi, f->updates[i].value);
      fprintf(out, " -> f%d_upd%d;\n", fi, i);
    }
    for (int i = 0; i < f->nbody; i++) {
      const ir_node *n = f->body[i];
      for (int a = 0; a < n->nargs; a++) {
        fputs("    ", out);
        node_id(out, fi, n->args[a]);
        fputs(" -> ", out);
        node_id(out, fi, n);
        fputs(";\n", out);
      }
    }
    fputs("  }\n", out);
  }
  fputs("}\n", out);
}

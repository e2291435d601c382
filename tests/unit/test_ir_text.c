/* The textual IR: print → parse → print gives the same text for every op of the table,
 * values and names survive, and bad text gets an error at the right line and column. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static ir_type ty(ir_dtype dt, int rank, const int64_t *dims) { return ir_type_make(dt, rank, dims); }
#define T(dt, ...) ty(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

/* Prints m, parses the text, prints again; the two texts must be equal. Returns the
 * first text (caller frees). */
static char *round_trip(const ir_module *m, const char *what) {
  char *first = ir_module_to_string(m);
  cr_assert_not_null(first);
  ir_error err = {0};
  ir_module *again = ir_parse(first, strlen(first), &err);
  cr_assert_not_null(again, "%s: printed text does not parse: %d:%d: %s\n%s", what, err.loc.line,
                     err.loc.col, err.msg, first);
  char *second = ir_module_to_string(again);
  cr_expect_str_eq(second, first, "%s: text changed on a round trip", what);
  cr_expect(ir_verify_module(again, &err), "%s: parsed module does not verify: %s", what, err.msg);
  free(second);
  ir_module_destroy(again);
  return first;
}

static ir_module *parse_ok(const char *text) {
  ir_error err = {0};
  ir_module *m = ir_parse(text, strlen(text), &err);
  cr_assert_not_null(m, "%d:%d: %s\n%s", err.loc.line, err.loc.col, err.msg, text);
  return m;
}

/* ---- every op of the table ------------------------------------------------------------ */

static ir_node *build(ir_func *f, ir_opcode op, ir_node **args, int nargs, const ir_attrs *a,
                      const ir_type *given) {
  ir_error err = {0};
  ir_node *n = ir_build(f, op, args, nargs, a, given, &err);
  cr_assert_not_null(n, "recipe for '%s' does not build: %s", ir_ops[op].name, err.msg);
  return n;
}

/* Builds one or more uses of `op` in f, from the op's kind (and, where a kind mixes
 * them, its attribute kind). False if there is no recipe: a new kind needs one here. */
static bool recipe(ir_func *f, ir_opcode op) {
  const ir_op_info *info = &ir_ops[op];
  ir_node *x = ir_func_add_arg(f, IR_OP_INPUT, "x", T(IR_F32, 2, 3));
  ir_node *y = ir_func_add_arg(f, IR_OP_INPUT, "y", T(IR_F32, 2, 3));
  ir_attrs a = {0};
  ir_type given;
  ir_node *n = NULL;
  switch (info->kind) {
  case IR_KIND_SOURCE:
    if (info->attrs == IR_ATTR_VALUE) {
      a = (ir_attrs){.nvalues = 1, .values = (double[]){0.1}};
      given = T(IR_F32, 2, 3);
      build(f, op, NULL, 0, &a, &given);
      a = (ir_attrs){.nvalues = 3, .values = (double[]){1, -2.5, 1e-8}};
      given = T(IR_F64, 3);
      n = build(f, op, NULL, 0, &a, &given);
      a = (ir_attrs){.nvalues = 2, .values = (double[]){7, -3}};
      given = T(IR_I64, 2);
      build(f, op, NULL, 0, &a, &given);
    } else if (info->attrs == IR_ATTR_AXIS) {
      a.axis = 1;
      given = T(IR_I32, 2, 3);
      n = build(f, op, NULL, 0, &a, &given);
    } else {
      return false;
    }
    break;
  case IR_KIND_ARG: {
    ir_node *arg = ir_func_add_arg(f, op, "a.rg", T(IR_F32, 2, 3));
    if (op != IR_OP_INPUT) ir_func_add_update(f, arg, x);
    n = build(f, IR_OP_ADD, (ir_node *[]){arg, y}, 2, NULL, NULL);
    break;
  }
  case IR_KIND_UNARY:
    given = T(IR_F64, 2, 3); /* only read by ops whose type is given (cast) */
    n = build(f, op, &x, 1, NULL, info->flags & IR_F_TYPE_GIVEN ? &given : NULL);
    break;
  case IR_KIND_BINARY:
  case IR_KIND_COMPARE: n = build(f, op, (ir_node *[]){x, y}, 2, NULL, NULL); break;
  case IR_KIND_SELECT: {
    ir_node *c = ir_func_add_arg(f, IR_OP_INPUT, "c", T(IR_BOOL, 2, 3));
    n = build(f, op, (ir_node *[]){c, x, y}, 3, NULL, NULL);
    break;
  }
  case IR_KIND_REDUCE:
    a = (ir_attrs){.naxes = 1, .axes = {1}, .keepdims = true};
    build(f, op, &x, 1, &a, NULL);
    a = (ir_attrs){.naxes = 2, .axes = {0, 1}};
    n = build(f, op, &x, 1, &a, NULL);
    break;
  case IR_KIND_CONTRACT: {
    ir_node *w = ir_func_add_arg(f, IR_OP_PARAM, "w", T(IR_F32, 3, 4));
    n = build(f, op, (ir_node *[]){x, w}, 2, NULL, NULL);
    break;
  }
  case IR_KIND_LAYOUT:
    switch (info->attrs) {
    case IR_ATTR_NONE: { /* reshape, broadcast: [6] to [1,6] is both */
      ir_node *v = ir_func_add_arg(f, IR_OP_INPUT, "v", T(IR_F32, 6));
      given = T(IR_F32, 1, 6);
      n = build(f, op, &v, 1, NULL, &given);
      break;
    }
    case IR_ATTR_PERM:
      a = (ir_attrs){.naxes = 2, .axes = {1, 0}};
      n = build(f, op, &x, 1, &a, NULL);
      break;
    case IR_ATTR_SLICE:
    case IR_ATTR_PADDING:
      a = (ir_attrs){.nbounds = 2, .lo = {0, 1}, .hi = {2, 3}};
      n = build(f, op, &x, 1, &a, NULL);
      break;
    case IR_ATTR_AXIS:
      a.axis = 1;
      n = build(f, op, (ir_node *[]){x, y, x}, info->arity < 0 ? 3 : info->arity, &a, NULL);
      break;
    default: return false;
    }
    break;
  case IR_KIND_LABEL: {
    ir_node *labels = ir_func_add_arg(f, IR_OP_INPUT, "labels", T(IR_I32, 3));
    if (info->attrs == IR_ATTR_NONE) {
      given = T(IR_F32, 3, 5);
      n = build(f, op, &labels, 1, NULL, &given);
    } else if (info->attrs == IR_ATTR_AXIS) {
      a.axis = 0;
      n = build(f, op, (ir_node *[]){x, labels}, 2, &a, NULL);
    } else {
      return false;
    }
    break;
  }
  case IR_KIND_SOFTMAX:
    a.axis = 1;
    n = build(f, op, &x, 1, &a, NULL);
    break;
  default: return false;
  }
  /* Exercise names, kernels, locations and outputs around the op as well. */
  n->name = "r.0";
  n->kernel = 2;
  n->loc = (ir_loc){3, 14};
  ir_func_add_output(f, "out", n);
  ir_func_add_output(f, "first.x", x);
  return true;
}

Test(ir_text, every_op_round_trips) {
  for (int op = 0; op < IR_OP_COUNT; op++) {
    ir_module *m = ir_module_create();
    ir_module_set_meta(m, "op", ir_ops[op].name);
    ir_func *f = ir_func_create(m, "t");
    bool has_recipe = recipe(f, (ir_opcode)op);
    cr_expect(has_recipe, "no round-trip recipe for '%s' (kind %d, attrs %d): add one to recipe()",
              ir_ops[op].name, ir_ops[op].kind, ir_ops[op].attrs);
    if (has_recipe) {
      char *text = round_trip(m, ir_ops[op].name);
      char needle[64];
      snprintf(needle, sizeof needle, ir_ops[op].kind == IR_KIND_ARG ? "%%a.rg: f32[2,3] %s)" : " = %s ",
               ir_ops[op].name);
      cr_expect(strstr(text, needle) != NULL, "'%s' does not appear in\n%s", ir_ops[op].name, text);
      free(text);
    }
    ir_module_destroy(m);
  }
}

/* ---- the format itself -------------------------------------------------------------- */

static const char canonical[] =
    "meta batch = \"10\"\n"
    "meta init.w = \"normal(0, 0.01)\"\n"
    "meta quoted = \"a \\\"b\\\" \\\\ c\\nd\"\n"
    "\n"
    "func @forward(%x: f32[10,2] input, %y: f32[10,1] input, %w: f32[2,1] param, %b: f32[1] param, %m.w: f32[2,1] state) {\n"
    "  %0 = matmul %x, %w : f32[10,1]\n"
    "  %h1 = broadcast %b : f32[10,1] loc(7:9)\n"
    "  %1 = add %0, %h1 : f32[10,1] kernel(3) loc(7:12)\n"
    "  %2 = reduce_sum %1 axes=[0,1] keepdims : f32[1,1]\n"
    "  %3 = transpose %x perm=[1,0] : f32[2,10]\n"
    "  %4 = slice %x start=[0,0] end=[5,2] : f32[5,2]\n"
    "  %5 = pad %4 lo=[0,0] hi=[5,0] : f32[10,2]\n"
    "  %6 = softmax %1 axis=1 : f32[10,1]\n"
    "  %7 = const 0.5 : f32[]\n"
    "  %8 = const [1, 2.5, -3] : f32[3]\n"
    "  %9 = concat %x, %x axis=1 : f32[10,4]\n"
    "  %10 = sub %w, %m.w : f32[2,1]\n"
    "  output loss = %7\n"
    "  output grad.w = %0\n"
    "  update %w = %10\n"
    "  update %m.w = %w\n"
    "}\n"
    "\n"
    "func @empty() {\n"
    "}\n";

Test(ir_text, canonical_text_is_a_fixed_point) {
  ir_module *m = parse_ok(canonical);
  char *text = ir_module_to_string(m);
  cr_expect_str_eq(text, canonical);
  free(text);
  cr_expect_str_eq(ir_module_get_meta(m, "quoted"), "a \"b\" \\ c\nd");
  ir_func *f = ir_module_find_func(m, "forward");
  cr_assert_not_null(f);
  cr_expect_eq(f->nargs, 5);
  cr_expect_eq(f->nbody, 12);
  cr_expect_eq(f->args[4]->op, IR_OP_STATE);
  cr_expect_eq(f->body[2]->kernel, 3);
  cr_expect_eq(f->body[2]->loc.line, 7);
  cr_expect_eq(f->body[2]->loc.col, 12);
  cr_expect_eq(f->nupdates, 2);
  cr_expect_eq(f->updates[0].target, f->args[2]);
  cr_expect_eq(f->updates[0].value, f->body[11]);
  ir_module_destroy(m);
}

/* Numeric names are not kept: the printer numbers unnamed values in body order; other
 * names are kept and printed as written. */
Test(ir_text, numbered_and_named_values) {
  ir_module *m = parse_ok("func @f(%x: f32[2] input) {\n"
                          "  %17 = neg %x : f32[2]\n"
                          "  %h = exp %17 : f32[2]\n"
                          "  %003 = add %h, %17 : f32[2]\n"
                          "  output o = %003\n"
                          "}\n");
  ir_func *f = m->funcs[0];
  cr_expect_null(f->body[0]->name);
  cr_expect_str_eq(f->body[1]->name, "h");
  cr_expect_null(f->body[2]->name);
  cr_expect_eq(f->body[2]->args[1], f->body[0]);
  char *text = ir_module_to_string(m);
  cr_expect_str_eq(text, "func @f(%x: f32[2] input) {\n"
                         "  %0 = neg %x : f32[2]\n"
                         "  %h = exp %0 : f32[2]\n"
                         "  %1 = add %h, %0 : f32[2]\n"
                         "  output o = %1\n"
                         "}\n");
  free(text);
  ir_module_destroy(m);
}

/* A pass may leave a name invalid or twice in a function; the printer repairs it in the
 * text, so its output always parses. */
Test(ir_text, printer_repairs_names_passes_left_invalid) {
  ir_module *m = ir_module_create();
  ir_func *f = ir_func_create(m, "f");
  ir_node *x = ir_func_add_arg(f, IR_OP_INPUT, "x y", T(IR_F32, 2));
  ir_node *a = ir_emit_unary(f, IR_OP_NEG, x);
  ir_node *b = ir_emit_unary(f, IR_OP_NEG, a);
  ir_node *c = ir_emit_unary(f, IR_OP_NEG, b);
  ir_node *d = ir_emit_unary(f, IR_OP_NEG, c);
  a->name = "t";
  b->name = "t";
  c->name = "t.1";
  d->name = "42";
  char *text = round_trip(m, "repaired names");
  cr_expect_str_eq(text, "func @f(%x_y: f32[2] input) {\n"
                         "  %t = neg %x_y : f32[2]\n"
                         "  %t.2 = neg %t : f32[2]\n"
                         "  %t.1 = neg %t.2 : f32[2]\n"
                         "  %0 = neg %t.1 : f32[2]\n"
                         "}\n");
  free(text);
  ir_module_destroy(m);
}

/* Doubles print in the shortest of %.15g, %.16g, %.17g that reads back exactly. */
Test(ir_text, const_values_survive_exactly) {
  const double values[] = {0.1, 1.0 / 3.0, 1e-8, -0.0, 1e300, 5e-324, 0x1p53 + 2, -2.5e-310,
                           INFINITY, -INFINITY, 123456789012345678.0, 0.30000000000000004};
  const int nv = (int)(sizeof values / sizeof values[0]);
  ir_module *m = ir_module_create();
  ir_func *f = ir_func_create(m, "c");
  ir_attrs a = {.nvalues = nv, .values = (double *)values};
  ir_node *k = ir_emit(f, IR_OP_CONST, NULL, 0, &a, &(ir_type){.dtype = IR_F64, .rank = 1, .dims = {nv}});
  ir_attrs one = {.nvalues = 1, .values = (double[]){NAN}};
  ir_emit(f, IR_OP_CONST, NULL, 0, &one, &(ir_type){.dtype = IR_F32});
  ir_func_add_output(f, "k", k);
  char *text = round_trip(m, "doubles");
  cr_expect(strstr(text, "[0.1, 0.3333333333333333, 1e-08, -0, 1e+300, 4.94065645841247e-324, "
                         "9007199254740994, -2.50000000000002e-310, inf, -inf, 1.2345678901234568e+17, "
                         "0.30000000000000004]") != NULL, "%s", text);
  cr_expect(strstr(text, "= const nan : f32[]") != NULL, "%s", text);
  ir_module *back = parse_ok(text);
  const ir_node *kb = back->funcs[0]->body[0];
  cr_assert_eq(kb->attrs.nvalues, nv);
  for (int i = 0; i < nv; i++)
    cr_expect(memcmp(&kb->attrs.values[i], &values[i], sizeof(double)) == 0, "value %d: %.17g != %.17g", i,
              kb->attrs.values[i], values[i]);
  cr_expect(isnan(back->funcs[0]->body[1]->attrs.values[0]));
  free(text);
  ir_module_destroy(back);
  ir_module_destroy(m);
}

/* Comments, CRLF line ends, blank lines and an argument list broken over lines read as
 * the canonical text does. */
Test(ir_text, comments_and_layout_are_skipped) {
  ir_module *m = parse_ok("// RUN: %dlc opt %s | FileCheck %s\r\n"
                          "# a comment\n"
                          "\n"
                          "meta   k   =   \"v\"   // trailing\r\n"
                          "func @f(\n"
                          "    %x: f32[2] input,\n"
                          "    %p: f32[2] param)  {   # open\n"
                          "\n"
                          "  %0 = add   %x ,%p : f32[ 2 ]   kernel( 1 )loc(2 : 3)\r\n"
                          "  // CHECK: add\n"
                          "  update %p = %0\n"
                          "}");
  char *text = ir_module_to_string(m);
  cr_expect_str_eq(text, "meta k = \"v\"\n\n"
                         "func @f(%x: f32[2] input, %p: f32[2] param) {\n"
                         "  %0 = add %x, %p : f32[2] kernel(1) loc(2:3)\n"
                         "  update %p = %0\n"
                         "}\n");
  free(text);
  ir_module_destroy(m);
}

Test(ir_text, empty_input_is_an_empty_module) {
  ir_module *m = parse_ok("  // nothing here\n\n");
  cr_expect_eq(m->nfuncs, 0);
  char *text = ir_module_to_string(m);
  cr_expect_str_eq(text, "");
  free(text);
  ir_module_destroy(m);
  /* No error struct, no text: still no crash. */
  cr_expect_null(ir_parse("func", 4, NULL));
  ir_module *none = ir_parse(NULL, 0, NULL);
  cr_expect_not_null(none);
  ir_module_destroy(none);
}

/* ---- errors ------------------------------------------------------------------------------ */

typedef struct {
  const char *text;
  int line, col;
  const char *msg; /* a substring of the message */
} bad_case;

#define F1 "func @f(%x: f32[2] input, %p: f32[2] param) {\n"

static const bad_case bad_cases[] = {
    {"foo\n", 1, 1, "expected 'meta' or 'func', found 'foo'"},
    {"meta a = \"abc\n", 1, 10, "unterminated string"},
    {"meta a = \"a\\qb\"\n", 1, 12, "unknown escape in string"},
    {"meta a = 3\n", 1, 10, "expected a string after 'meta a =', found '3'"},
    {"meta a = \"1\"\nmeta a = \"2\"\n", 2, 6, "duplicate meta key 'a'"},
    {"meta a = \"1\" x\n", 1, 14, "expected end of line after the meta entry, found 'x'"},
    {"func f() {\n}\n", 1, 6, "expected a function name such as @forward, found 'f'"},
    {"func @f() {\n}\nfunc @f() {\n}\n", 3, 6, "redefinition of function @f"},
    {"func @f(%x: f16[2] input) {\n}\n", 1, 13, "unknown dtype 'f16'"},
    {"func @f(%x: f32[2]) {\n}\n", 1, 19, "expected argument role 'input', 'param' or 'state', found ')'"},
    {"func @f(%x: f32[2] input, %x: f32[2] input) {\n}\n", 1, 27, "redefinition of %x (first defined at 1:9)"},
    {"func @f(%0: f32[2] input) {\n}\n", 1, 9, "argument %0 needs a name, not a number"},
    {"func @f(%x: f32[2] input %y: f32[2] input) {\n}\n", 1, 26, "expected ',' or ')' after argument, found '%y'"},
    {"func @f(%x: f32[1,1,1,1,1,1,1,1,1] input) {\n}\n", 1, 33, "too many entries in the list (at most 8)"},
    {"func @f(%x: f32[99999999999999999999] input) {\n}\n", 1, 17, "dimension is out of range"},
    {"func @f(%x: f32[-1] input) {\n}\n", 1, 17, "dimension -1 is out of range"},
    {"func @f(%x: f32[2] input) {\n  %0 = neg %x : f32[2]\n", 3, 1, "missing '}'"},
    {F1 "  %0 = frob %x : f32[2]\n}\n", 2, 8, "unknown op 'frob'"},
    {F1 "  %0 = neg %y : f32[2]\n}\n", 2, 12, "use of undefined value %y"},
    {F1 "  %0 = neg %x : f32[2]\n  %0 = neg %x : f32[2]\n}\n", 3, 3, "redefinition of %0 (first defined at 2:3)"},
    {F1 "  %x = neg %x : f32[2]\n}\n", 2, 3, "redefinition of %x"},
    {F1 "  %0 = add %x %p : f32[2]\n}\n", 2, 15, "expected ',' or ':' after operand, found '%p'"},
    {F1 "  %0 = neg %x f32[2]\n}\n", 2, 15, "expected ':' and the result type, found 'f32'"},
    {F1 "  %0 = neg %x\n}\n", 2, 14, "expected ',' or ':' after operand, found end of line"},
    {F1 "  %0 = neg %x : \n}\n", 2, 17, "expected a type such as f32[10,2], found end of line"},
    {F1 "  %0 = add %x : f32[2]\n}\n", 2, 8, "'add' takes 2 operands, found 1"},
    {F1 "  %0 = neg %x, %x : f32[2]\n}\n", 2, 8, "'neg' takes 1 operand, found 2"},
    {F1 "  %0 = const %x : f32[2]\n}\n", 2, 14, "'const' takes no operands"},
    {F1 "  %0 = input : f32[2]\n}\n", 2, 8, "'input' is an argument role, not an op"},
    {F1 "  %0 = add %x, %x : f32[3]\n}\n", 2, 8, "'add' produces f32[2], but its type says f32[3]"},
    {"func @f(%x: f32[2] input, %y: f32[3] input) {\n  %0 = add %x, %y : f32[3]\n}\n", 2, 8,
     "shapes [2] and [3] do not broadcast"},
    {F1 "  %0 = softmax %x axes=[0] : f32[2]\n}\n", 2, 19, "expected 'axis' after the operands of 'softmax', found 'axes'"},
    {F1 "  %0 = softmax %x axis=3 : f32[2]\n}\n", 2, 8, "axis 3 is out of range for rank 1"},
    {F1 "  %0 = softmax %x axis=1.5 : f32[2]\n}\n", 2, 24, "expected axis (an integer), found '1.5'"},
    {F1 "  %0 = softmax %x axis=9223372036854775808 : f32[2]\n}\n", 2, 24, "axis is out of range"},
    {F1 "  %0 = reduce_sum %x axes=[0 : f32[]\n}\n", 2, 30, "expected ',' or ']' in the list, found ':'"},
    {F1 "  %0 = reduce_sum %x axes=[0] keepdim : f32[1]\n}\n", 2, 31, "expected ':' and the result type, found 'keepdim'"},
    {F1 "  %0 = slice %x start=[0] end=[1,2] : f32[1]\n}\n", 2, 27, "'start' has 1 entries but 'end' has 2"},
    {F1 "  %0 = pad %x lo=[1] : f32[3]\n}\n", 2, 22, "expected 'hi' after the first list, found ':'"},
    {F1 "  %0 = const [1, 2] : f32[3]\n}\n", 2, 8, "2 values for 3 elements"},
    {F1 "  %0 = const 0.5 : i32[]\n}\n", 2, 8, "value is not an integer, but the type is i32"},
    {F1 "  %0 = const 1.5x : f32[]\n}\n", 2, 14, "invalid number '1.5x'"},
    {F1 "  %0 = const 1e : f32[]\n}\n", 2, 14, "invalid exponent in number"},
    {F1 "  %0 = const - : f32[]\n}\n", 2, 14, "expected a digit after '-'"},
    {F1 "  %0 = const [1, 2 : f32[2]\n}\n", 2, 20, "expected ']' or ',' in the list of values, found ':'"},
    {F1 "  %0 = neg %x : f32[2] foo\n}\n", 2, 24, "expected end of line after the instruction, found 'foo'"},
    {F1 "  %0 = neg %x : f32[2] loc(3)\n}\n", 2, 29, "expected ':' between line and column, found ')'"},
    {F1 "  %0 = neg %x : f32[2] kernel(-1)\n}\n", 2, 31, "kernel number -1 is out of range"},
    {F1 "  output o = %x\n  output o = %x\n}\n", 3, 10, "duplicate output 'o'"},
    {F1 "  output 1 = %x\n}\n", 2, 10, "expected an output name after 'output', found '1'"},
    {F1 "  update %x = %x\n}\n", 2, 10, "update target %x is not a param or state argument"},
    {F1 "  update %p = %p\n  update %p = %x\n}\n", 3, 10, "%p is updated twice"},
    {"func @f(%p: f32[2] param, %q: f32[3] param) {\n  update %p = %q\n}\n", 2, 15,
     "update of %p (f32[2]) with a value of type f32[3]"},
    {F1 "  %0 = neg %x : f32[2]\n  $\n}\n", 3, 3, "unexpected character '$'"},
    {F1 "  %1a = neg %x : f32[2]\n}\n", 2, 3, "invalid value name '%1a'"},
    {F1 "  % = neg %x : f32[2]\n}\n", 2, 3, "invalid value name '%'"},
    {F1 "  %0 = neg %x : f32[2]\n} x\n", 3, 3, "expected end of line after '}', found 'x'"},
    {F1 "  neg %x\n}\n", 2, 3, "expected an instruction, 'output', 'update' or '}', found 'neg'"},
    {"meta a = \"x\"\n\x01", 2, 1, "unexpected byte 0x01"},
};

Test(ir_text, parse_errors_have_line_column_and_message) {
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case *c = &bad_cases[i];
    ir_error err = {0};
    ir_module *m = ir_parse(c->text, strlen(c->text), &err);
    cr_expect_null(m, "case %zu parsed, but should fail with '%s':\n%s", i, c->msg, c->text);
    if (m) {
      ir_module_destroy(m);
      continue;
    }
    cr_expect(strstr(err.msg, c->msg) != NULL, "case %zu: message '%s' lacks '%s'", i, err.msg, c->msg);
    cr_expect(err.loc.line == c->line && err.loc.col == c->col, "case %zu ('%s'): at %d:%d, expected %d:%d",
              i, err.msg, err.loc.line, err.loc.col, c->line, c->col);
  }
}

/* A NUL byte is input like any other: an error, not the end of the text. */
Test(ir_text, nul_bytes_are_errors) {
  const char text[] = "meta a = \"x\0y\"\n";
  ir_error err = {0};
  cr_expect_null(ir_parse(text, sizeof text - 1, &err));
  cr_expect_str_eq(err.msg, "NUL byte in string");
  cr_expect_eq(err.loc.col, 12);
}

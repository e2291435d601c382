/* Small helpers over the LLVM C API that every emitter uses: types of tensor elements,
 * loads and stores (bool is i1 in registers and one byte in memory), intrinsics, counted
 * loops with static trip counts, and kernel functions with noalias buffer parameters. */
#include <string.h>

#include "be_internal.h"

void be_ctx_init(be_ctx *c, LLVMContextRef ctx, const char *module_name, const char *cpu,
                 const char *features) {
  memset(c, 0, sizeof *c);
  c->ctx = ctx;
  c->mod = LLVMModuleCreateWithNameInContext(module_name, ctx);
  c->vector_mod = LLVMModuleCreateWithNameInContext("dlc.vector", ctx);
  c->b = LLVMCreateBuilderInContext(ctx);
  c->i1 = LLVMInt1TypeInContext(ctx);
  c->i8 = LLVMInt8TypeInContext(ctx);
  c->i32 = LLVMInt32TypeInContext(ctx);
  c->i64 = LLVMInt64TypeInContext(ctx);
  c->f32 = LLVMFloatTypeInContext(ctx);
  c->f64 = LLVMDoubleTypeInContext(ctx);
  c->ptr = LLVMPointerTypeInContext(ctx, 0);
  c->void_t = LLVMVoidTypeInContext(ctx);
  LLVMTypeRef fields[7];
  for (int i = 0; i < 7; i++) fields[i] = c->ptr;
  c->frame_t = LLVMStructTypeInContext(ctx, fields, 7, 0);
  c->cpu = cpu;
  c->features = features;
  c->wide_vectors = features && strstr(features, "+avx512f") != NULL;
}

void be_ctx_dispose_builder(be_ctx *c) {
  if (c->b) LLVMDisposeBuilder(c->b);
  c->b = NULL;
}

LLVMTypeRef be_mem_type(be_ctx *c, ir_dtype dt) {
  switch (dt) {
  case IR_F32: return c->f32;
  case IR_F64: return c->f64;
  case IR_I32: return c->i32;
  case IR_I64: return c->i64;
  case IR_BOOL: return c->i8;
  default: break;
  }
  IR_ASSERT(!"unknown dtype");
  return NULL;
}

LLVMTypeRef be_reg_type(be_ctx *c, ir_dtype dt) {
  return dt == IR_BOOL ? c->i1 : be_mem_type(c, dt);
}

LLVMValueRef be_i64(be_ctx *c, int64_t v) { return LLVMConstInt(c->i64, (unsigned long long)v, 1); }

LLVMValueRef be_const_of(be_ctx *c, ir_dtype dt, double v) {
  if (ir_dtype_is_float(dt)) return LLVMConstReal(be_reg_type(c, dt), v);
  if (dt == IR_BOOL) return LLVMConstInt(c->i1, v != 0, 0);
  return LLVMConstInt(be_reg_type(c, dt), (unsigned long long)(int64_t)v, 1);
}

static LLVMValueRef element_ptr(be_ctx *c, ir_dtype dt, LLVMValueRef base, LLVMValueRef index) {
  LLVMValueRef gep = LLVMBuildInBoundsGEP2(c->b, be_mem_type(c, dt), base, &index, 1, "");
  return gep;
}

LLVMValueRef be_load(be_ctx *c, ir_dtype dt, LLVMValueRef base, LLVMValueRef index) {
  LLVMValueRef v = LLVMBuildLoad2(c->b, be_mem_type(c, dt), element_ptr(c, dt, base, index), "");
  if (dt == IR_BOOL) v = LLVMBuildICmp(c->b, LLVMIntNE, v, LLVMConstInt(c->i8, 0, 0), "");
  return v;
}

void be_store(be_ctx *c, ir_dtype dt, LLVMValueRef base, LLVMValueRef index, LLVMValueRef v) {
  if (dt == IR_BOOL) v = LLVMBuildZExt(c->b, v, c->i8, "");
  LLVMBuildStore(c->b, v, element_ptr(c, dt, base, index));
}

LLVMValueRef be_intrinsic(be_ctx *c, const char *name, LLVMTypeRef overload, LLVMValueRef *args,
                          int nargs) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  IR_ASSERT(id != 0);
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, &overload, 1);
  LLVMTypeRef fty = LLVMIntrinsicGetType(c->ctx, id, &overload, 1);
  return LLVMBuildCall2(c->b, fty, fn, args, (unsigned)nargs, "");
}

void be_add_fn_attr(be_ctx *c, LLVMValueRef fn, const char *attr) {
  unsigned kind = LLVMGetEnumAttributeKindForName(attr, strlen(attr));
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(c->ctx, kind, 0));
}

/* A call to libm: the same function the reference (and the C library users have) computes. */
LLVMValueRef be_libm(be_ctx *c, const char *f32_name, const char *f64_name, ir_dtype dt,
                     LLVMValueRef *args, int nargs) {
  const char *name = dt == IR_F64 ? f64_name : f32_name;
  LLVMTypeRef t = be_reg_type(c, dt);
  LLVMTypeRef params[3] = {t, t, t};
  LLVMTypeRef fty = LLVMFunctionType(t, params, (unsigned)nargs, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(c->mod, name);
  if (!fn) {
    fn = LLVMAddFunction(c->mod, name, fty);
    /* Pure functions of their arguments (errno aside): lets LLVM hoist and CSE them. */
    static const char *const attrs[] = {"nounwind", "willreturn", "nofree", "nosync"};
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) be_add_fn_attr(c, fn, attrs[i]);
  }
  return LLVMBuildCall2(c->b, fty, fn, args, (unsigned)nargs, "");
}

LLVMValueRef be_linear_index(be_ctx *c, const ir_type *t, LLVMValueRef *idx) {
  LLVMValueRef lin = be_i64(c, 0);
  int64_t stride = 1;
  for (int d = t->rank - 1; d >= 0; d--) {
    if (t->dims[d] != 1 && idx[d]) {
      LLVMValueRef term = stride == 1 ? idx[d] : LLVMBuildMul(c->b, idx[d], be_i64(c, stride), "");
      lin = LLVMBuildAdd(c->b, lin, term, "");
    }
    stride *= t->dims[d];
  }
  return lin;
}

void be_set_function_attrs(be_ctx *c, LLVMValueRef fn) {
  be_add_fn_attr(c, fn, "nounwind");
  if (c->cpu && *c->cpu) LLVMAddTargetDependentFunctionAttr(fn, "target-cpu", c->cpu);
  if (c->features && *c->features)
    LLVMAddTargetDependentFunctionAttr(fn, "target-features", c->features);
  /* LLVM's tuning for AVX-512 hosts prefers 256-bit vectors; kernels want the full width. */
  if (c->wide_vectors) LLVMAddTargetDependentFunctionAttr(fn, "prefer-vector-width", "512");
}

void be_mark_glue(be_ctx *c, LLVMValueRef fn) {
  be_add_fn_attr(c, fn, "optnone");
  be_add_fn_attr(c, fn, "noinline"); /* optnone requires it */
}

LLVMValueRef be_begin_function_args(be_ctx *c, const char *name, int nptr, int nalias, int ni64, bool internal) {
  int nparams = nptr + ni64;
  LLVMTypeRef params[nparams > 0 ? nparams : 1];
  for (int i = 0; i < nparams; i++) params[i] = i < nptr ? c->ptr : c->i64;
  LLVMTypeRef fty = LLVMFunctionType(c->void_t, params, (unsigned)nparams, 0);
  LLVMValueRef fn = LLVMAddFunction(c->mod, name, fty);
  if (internal) LLVMSetLinkage(fn, LLVMInternalLinkage);
  be_set_function_attrs(c, fn);
  /* Kernels stay functions of their own: inlining thirty loop nests into one entry makes
   * O3's function-level passes superlinear, and a call per kernel costs nothing. */
  if (internal) be_add_fn_attr(c, fn, "noinline");
  unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
  unsigned nocapture = LLVMGetEnumAttributeKindForName("nocapture", 9);
  for (int i = 0; i < nalias; i++) {
    LLVMAddAttributeAtIndex(fn, (unsigned)i + 1, LLVMCreateEnumAttribute(c->ctx, noalias, 0));
    LLVMAddAttributeAtIndex(fn, (unsigned)i + 1, LLVMCreateEnumAttribute(c->ctx, nocapture, 0));
  }
  LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(c->ctx, fn, "entry");
  LLVMPositionBuilderAtEnd(c->b, entry);
  return fn;
}

LLVMValueRef be_begin_function(be_ctx *c, const char *name, int nparams, bool internal) {
  /* Each parameter of a kernel is a distinct buffer (the planner never hands one kernel two
   * views of the same memory), so loads and stores through them never alias. */
  return be_begin_function_args(c, name, nparams, internal ? nparams : 0, 0, internal);
}

LLVMValueRef be_entry_alloca(be_ctx *c, LLVMTypeRef t, const char *name) {
  LLVMBasicBlockRef cur = LLVMGetInsertBlock(c->b);
  LLVMValueRef fn = LLVMGetBasicBlockParent(cur);
  LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(fn);
  LLVMBuilderRef tmp = LLVMCreateBuilderInContext(c->ctx);
  LLVMValueRef first = LLVMGetFirstInstruction(entry);
  if (first)
    LLVMPositionBuilderBefore(tmp, first);
  else
    LLVMPositionBuilderAtEnd(tmp, entry);
  LLVMValueRef a = LLVMBuildAlloca(tmp, t, name);
  LLVMDisposeBuilder(tmp);
  return a;
}

LLVMValueRef be_loop_begin(be_ctx *c, be_loop *l, int64_t n, const char *name) {
  IR_ASSERT(n >= 1);
  l->n = n;
  l->bound = NULL;
  l->preheader = LLVMGetInsertBlock(c->b);
  LLVMValueRef fn = LLVMGetBasicBlockParent(l->preheader);
  l->header = LLVMAppendBasicBlockInContext(c->ctx, fn, name);
  LLVMBuildBr(c->b, l->header);
  LLVMPositionBuilderAtEnd(c->b, l->header);
  l->index = LLVMBuildPhi(c->b, c->i64, name);
  return l->index;
}

LLVMValueRef be_loop_begin_dyn(be_ctx *c, be_loop *l, LLVMValueRef n, const char *name) {
  LLVMValueRef index = be_loop_begin(c, l, 1, name);
  l->n = 0;
  l->bound = n;
  return index;
}

void be_loop_end(be_ctx *c, be_loop *l) {
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
  LLVMValueRef fn = LLVMGetBasicBlockParent(latch);
  LLVMValueRef next = LLVMBuildNUWAdd(c->b, l->index, be_i64(c, 1), "");
  LLVMValueRef more = LLVMBuildICmp(c->b, LLVMIntULT, next, l->bound ? l->bound : be_i64(c, l->n), "");
  LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(c->ctx, fn, "");
  LLVMBuildCondBr(c->b, more, l->header, exit);
  LLVMValueRef vals[2] = {be_i64(c, 0), next};
  LLVMBasicBlockRef blocks[2] = {l->preheader, latch};
  LLVMAddIncoming(l->index, vals, blocks, 2);
  LLVMPositionBuilderAtEnd(c->b, exit);
}

LLVMValueRef be_fadd_reassoc(be_ctx *c, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef v = LLVMBuildFAdd(c->b, a, b, "");
  LLVMSetFastMathFlags(v, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
  return v;
}

LLVMValueRef be_vector_fn_find(be_ctx *c, const char *name) {
  LLVMValueRef def = LLVMGetNamedFunction(c->vector_mod, name);
  if (!def) return NULL;
  LLVMValueRef decl = LLVMGetNamedFunction(c->mod, name);
  if (!decl) {
    decl = LLVMAddFunction(c->mod, name, LLVMGlobalGetValueType(def));
    be_add_fn_attr(c, decl, "nounwind");
  }
  return decl;
}

be_emit_point be_vector_fn_begin(be_ctx *c) {
  be_emit_point at = {c->mod, LLVMGetInsertBlock(c->b)};
  c->mod = c->vector_mod;
  return at;
}

LLVMValueRef be_vector_fn_end(be_ctx *c, be_emit_point at, LLVMValueRef fn) {
  /* External until linked (a declaration resolves only to a visible definition), hidden so a
   * shared library does not export it; be_build_llvm makes it internal once linked. */
  LLVMSetLinkage(fn, LLVMExternalLinkage);
  LLVMSetVisibility(fn, LLVMHiddenVisibility);
  c->mod = at.mod;
  LLVMPositionBuilderAtEnd(c->b, at.block);
  size_t len;
  return be_vector_fn_find(c, LLVMGetValueName2(fn, &len));
}

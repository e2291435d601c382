/* The target machine (the host's CPU name and features unless told otherwise, PIC so the
 * same code serves the JIT and a shared library), dlc's pass list through the new pass manager,
 * and the common path of JIT and AOT: tensor IR -> verified, optimised LLVM module. */
#include <llvm-c/Analysis.h>
#include <llvm-c/Linker.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <llvm/Config/llvm-config.h> /* LLVM_VERSION_MAJOR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "be_internal.h"

double be_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool be_take_error(LLVMErrorRef e, const char *what, ir_error *err) {
  char *msg = LLVMGetErrorMessage(e);
  ir_error_set(err, (ir_loc){0, 0}, "backend: %s: %s", what, msg);
  LLVMDisposeErrorMessage(msg);
  return false;
}

be_options be_options_default(void) {
  return (be_options){.opt_level = 3};
}

/* The vector features a CPU named without them has, as the matmul kernels read them
 * (be_mm_isa_of): "+avx512f", "+avx", "+fma" or none. LLVM's C API does not list a CPU's
 * features, so a 16-lane FMA is compiled for it and the assembly read: zmm registers mean
 * AVX-512, ymm AVX, a vfmadd FMA. Only a named CPU pays for it (a few milliseconds). */
static char *probed_features(const be_target *t) {
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("probe", ctx);
  LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0), vec = LLVMVectorType(LLVMFloatTypeInContext(ctx), 16);
  LLVMValueRef fn = LLVMAddFunction(mod, "probe", LLVMFunctionType(LLVMVoidTypeInContext(ctx), &ptr, 1, 0));
  LLVMAddTargetDependentFunctionAttr(fn, "target-cpu", t->cpu);
  LLVMAddTargetDependentFunctionAttr(fn, "prefer-vector-width", "512");
  LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
  LLVMValueRef v = LLVMBuildLoad2(b, vec, LLVMGetParam(fn, 0), "");
  unsigned id = LLVMLookupIntrinsicID("llvm.fma", 8);
  LLVMValueRef fma = LLVMGetIntrinsicDeclaration(mod, id, &vec, 1), args[3] = {v, v, v};
  LLVMBuildStore(b, LLVMBuildCall2(b, LLVMIntrinsicGetType(ctx, id, &vec, 1), fma, args, 3, ""), LLVMGetParam(fn, 0));
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
  LLVMSetTarget(mod, t->triple);
  LLVMMemoryBufferRef buf = NULL;
  char *msg = NULL, *features = calloc(32, 1);
  IR_ASSERT(features);
  if (!LLVMTargetMachineEmitToMemoryBuffer(t->tm, mod, LLVMAssemblyFile, &msg, &buf)) {
    size_t n = LLVMGetBufferSize(buf);
    char *text = strndup(LLVMGetBufferStart(buf), n);
    IR_ASSERT(text);
    if (strstr(text, "zmm")) strcat(features, "+avx512f,");
    else if (strstr(text, "ymm")) strcat(features, "+avx,");
    if (strstr(text, "vfmadd")) strcat(features, "+fma,");
    if (*features) features[strlen(features) - 1] = '\0';
    free(text);
    LLVMDisposeMemoryBuffer(buf);
  }
  LLVMDisposeMessage(msg);
  LLVMDisposeModule(mod);
  LLVMContextDispose(ctx);
  return features;
}

/* The target machine for a CPU the user named, or NULL with err set when LLVM does not know
 * the name. LLVM says so only in a warning on stderr, again for every function it compiles,
 * and then generates code without 64-bit mode, which aborts: the warning is caught while
 * the machine is made. */
static LLVMTargetMachineRef named_cpu_machine(const be_target *t, ir_error *err) {
  ir_capture cap;
  if (!ir_capture_begin(&cap)) { /* unchecked, an unknown name would abort later */
    ir_error_set(err, (ir_loc){0, 0}, "backend: cannot check --target-cpu '%s': no temporary file for LLVM's warnings",
                 t->cpu);
    return NULL;
  }
  LLVMTargetMachineRef tm = be_target_machine(t);
  char *said = ir_capture_end(&cap);
  bool unknown = said && strstr(said, "is not a recognized processor");
  if (said && !unknown) fputs(said, stderr);
  free(said);
  if (unknown) {
    ir_error_set(err, (ir_loc){0, 0},
                 "backend: --target-cpu '%s' is not a processor LLVM %d knows for %s (LLVM's names: `llc-%d "
                 "-mcpu=help`; `native`: this machine's)",
                 t->cpu, LLVM_VERSION_MAJOR, t->triple, LLVM_VERSION_MAJOR);
    if (tm) LLVMDisposeTargetMachine(tm);
    return NULL;
  }
  if (!tm) ir_error_set(err, (ir_loc){0, 0}, "backend: no target machine for cpu '%s'", t->cpu);
  return tm;
}

/* A named CPU's features: its own (probed), then those named with it; t->tm made again for
 * them. */
static bool add_cpu_features(const be_options *o, be_target *t, ir_error *err) {
  char *own = probed_features(t);
  const char *named = o->target_features ? o->target_features : "";
  free(t->features);
  t->features = malloc(strlen(own) + strlen(named) + 2);
  IR_ASSERT(t->features);
  sprintf(t->features, "%s%s%s", own, *own && *named ? "," : "", named);
  free(own);
  LLVMDisposeTargetMachine(t->tm);
  t->tm = be_target_machine(t);
  if (!t->tm) {
    ir_error_set(err, (ir_loc){0, 0}, "backend: no target machine for cpu '%s' with '%s'", t->cpu, t->features);
    be_target_dispose(t);
    return false;
  }
  return true;
}

bool be_target_create(const be_options *o, be_target *t, ir_error *err) {
  memset(t, 0, sizeof *t);
  if (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter()) {
    ir_error_set(err, (ir_loc){0, 0}, "backend: LLVM has no native target on this machine");
    return false;
  }
  char *def = LLVMGetDefaultTargetTriple();
  t->triple = LLVMNormalizeTargetTriple(def);
  LLVMDisposeMessage(def);
  bool named = o && o->target_cpu && strcmp(o->target_cpu, "native") != 0;
  if (named) {
    t->cpu = strdup(o->target_cpu);
    t->features = strdup(""); /* the CPU's own, probed below, then target_features */
  } else {
    char *cpu = LLVMGetHostCPUName(), *feat = LLVMGetHostCPUFeatures();
    t->cpu = strdup(cpu);
    t->features = strdup(o && o->target_features ? o->target_features : feat);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(feat);
  }
  IR_ASSERT(t->cpu && t->features);
  LLVMTargetRef target;
  char *msg = NULL;
  if (LLVMGetTargetFromTriple(t->triple, &target, &msg)) {
    ir_error_set(err, (ir_loc){0, 0}, "backend: target %s: %s", t->triple, msg ? msg : "unknown");
    LLVMDisposeMessage(msg);
    be_target_dispose(t);
    return false;
  }
  t->target = target;
  t->opt_level = o ? o->opt_level : 3;
  t->tm = named ? named_cpu_machine(t, err) : be_target_machine(t);
  if (!t->tm) {
    if (!named) ir_error_set(err, (ir_loc){0, 0}, "backend: no target machine for cpu '%s'", t->cpu);
    be_target_dispose(t);
    return false;
  }
  if (named && !add_cpu_features(o, t, err)) return false;
  t->wide_vectors = strstr(t->features, "+avx512f") != NULL;
  return true;
}

LLVMTargetMachineRef be_target_machine(const be_target *t) {
  int level = t->opt_level;
  LLVMCodeGenOptLevel cg = level <= 0 ? LLVMCodeGenLevelNone
                           : level == 1 ? LLVMCodeGenLevelLess
                           : level == 2 ? LLVMCodeGenLevelDefault
                                        : LLVMCodeGenLevelAggressive;
  return LLVMCreateTargetMachine(t->target, t->triple, t->cpu, t->features, cg, LLVMRelocPIC, LLVMCodeModelDefault);
}

void be_target_dispose(be_target *t) {
  if (t->tm) LLVMDisposeTargetMachine(t->tm);
  if (t->triple) LLVMDisposeMessage(t->triple);
  free(t->cpu);
  free(t->features);
  memset(t, 0, sizeof *t);
}

void be_target_apply(const be_target *t, LLVMModuleRef mod) {
  LLVMSetTarget(mod, t->triple);
  LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(t->tm);
  LLVMSetModuleDataLayout(mod, dl);
  LLVMDisposeTargetData(dl);
}

/* What dlc hands LLVM is SSA already (no allocas to promote), every loop it wants kept rolled
 * or unrolled marked so, the matmul and packing code explicit vectors: of default<O3>'s
 * hundred-odd passes (8 instcombines, 2 GVNs, the inliner, loop rotation and unrolling,
 * ...) the code needs a clean-up, hoisting, and the two vectorisers (the loop vectoriser
 * widens the elementwise and reduction loops, the SLP one the rows the emitter unrolled).
 * Measured on W1-W4: steps no slower, LLVM's optimisation ~3x cheaper (W3 80 -> 25 ms). */
static const char dlc_pipeline[] = "function(sroa,early-cse,simplifycfg,instcombine,loop-mssa(licm),"
                                   "loop-vectorize,slp-vectorizer,instcombine,simplifycfg)";

bool be_optimize(const be_target *t, LLVMModuleRef mod, int opt_level, ir_error *err) {
  char pipeline[32];
  snprintf(pipeline, sizeof pipeline, "default<O%d>", opt_level < 0 ? 0 : opt_level);
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopVectorization(po, opt_level >= 2);
  LLVMPassBuilderOptionsSetSLPVectorization(po, opt_level >= 2);
  LLVMErrorRef e = LLVMRunPasses(mod, opt_level >= 3 ? dlc_pipeline : pipeline, t->tm, po);
  LLVMDisposePassBuilderOptions(po);
  if (e) return be_take_error(e, "optimisation", err);
  return true;
}

static void dump_module(FILE *out, LLVMModuleRef mod) {
  char *s = LLVMPrintModuleToString(mod);
  fputs(s, out);
  LLVMDisposeMessage(s);
}

/* Links the explicit vector functions (be_vector_fn_begin) into mod, consuming vector_mod,
 * and makes them internal to it: they are its only hidden definitions (be_vector_fn_end). */
static bool link_vector_fns(LLVMModuleRef mod, LLVMModuleRef vector_mod, ir_error *err) {
  if (LLVMLinkModules2(mod, vector_mod)) {
    ir_error_set(err, (ir_loc){0, 0}, "backend: linking the vector functions failed (a dlc bug)");
    return false;
  }
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f)) {
    if (LLVMIsDeclaration(f) || LLVMGetVisibility(f) != LLVMHiddenVisibility) continue;
    LLVMSetVisibility(f, LLVMDefaultVisibility);
    LLVMSetLinkage(f, LLVMInternalLinkage);
  }
  return true;
}

/* The module as it will be compiled: mod and the vector functions, for a dump. */
static void dump_linked(FILE *out, LLVMModuleRef mod, LLVMModuleRef vector_mod) {
  LLVMModuleRef copy = LLVMCloneModule(mod);
  ir_error ignored = {0};
  if (link_vector_fns(copy, LLVMCloneModule(vector_mod), &ignored)) dump_module(out, copy);
  LLVMDisposeModule(copy);
}

static bool dump_asm(FILE *out, const be_target *t, LLVMModuleRef mod, ir_error *err) {
  /* Code generation changes the module it runs on: emit from a copy. */
  LLVMModuleRef copy = LLVMCloneModule(mod);
  LLVMMemoryBufferRef buf = NULL;
  char *msg = NULL;
  bool ok = !LLVMTargetMachineEmitToMemoryBuffer(t->tm, copy, LLVMAssemblyFile, &msg, &buf);
  if (ok) {
    fwrite(LLVMGetBufferStart(buf), 1, LLVMGetBufferSize(buf), out);
    LLVMDisposeMemoryBuffer(buf);
  } else {
    ir_error_set(err, (ir_loc){0, 0}, "backend: assembly: %s", msg ? msg : "failed");
  }
  LLVMDisposeMessage(msg);
  LLVMDisposeModule(copy);
  return ok;
}

bool be_build_llvm(ir_module *m, const be_options *o, const be_target *t, LLVMContextRef ctx,
                   LLVMModuleRef *out_mod, be_model *model, ir_error *err) {
  be_options def = be_options_default();
  if (!o) o = &def;
  double t0 = be_now();
  be_ctx c;
  be_ctx_init(&c, ctx, "dlc", t->cpu, t->features);
  be_target_apply(t, c.mod);
  be_target_apply(t, c.vector_mod);
  bool ok = be_codegen_module(&c, m, model, o->entries, err);
  be_ctx_dispose_builder(&c);
  for (int i = 0; ok && i < 2; i++) {
    char *msg = NULL;
    if (LLVMVerifyModule(i ? c.vector_mod : c.mod, LLVMReturnStatusAction, &msg)) {
      ir_error_set(err, (ir_loc){0, 0}, "backend: generated LLVM IR is invalid (a dlc bug): %.400s", msg);
      ok = false;
    }
    LLVMDisposeMessage(msg);
  }
  if (ok && o->emit_llvm) dump_linked(o->emit_llvm, c.mod, c.vector_mod);
  double t1 = be_now();
  if (ok) ok = be_optimize(t, c.mod, o->opt_level, err);
  if (ok) ok = link_vector_fns(c.mod, c.vector_mod, err);
  else LLVMDisposeModule(c.vector_mod);
  double t2 = be_now();
  if (ok && o->emit_llvm_opt) dump_module(o->emit_llvm_opt, c.mod);
  if (ok && o->emit_asm) ok = dump_asm(o->emit_asm, t, c.mod, err);
  if (o->timings) {
    o->timings->codegen += t1 - t0;
    o->timings->optimize += t2 - t1;
  }
  if (!ok) {
    LLVMDisposeModule(c.mod);
    be_model_free(model);
    return false;
  }
  *out_mod = c.mod;
  return true;
}

char *be_llvm_ir_string(ir_module *m, const be_options *o, bool optimized, ir_error *err) {
  be_options opts = o ? *o : be_options_default();
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  IR_ASSERT(mem);
  opts.emit_llvm = optimized ? NULL : mem;
  opts.emit_llvm_opt = optimized ? mem : NULL;
  opts.emit_asm = NULL;
  opts.timings = NULL;
  be_target t;
  bool ok = be_target_create(&opts, &t, err);
  if (ok) {
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod;
    be_model model;
    ok = be_build_llvm(m, &opts, &t, ctx, &mod, &model, err);
    if (ok) {
      LLVMDisposeModule(mod);
      be_model_free(&model);
    }
    LLVMContextDispose(ctx);
    be_target_dispose(&t);
  }
  fclose(mem);
  if (!ok) {
    free(text);
    return NULL;
  }
  return text;
}

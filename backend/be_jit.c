/* In-process compilation with ORC LLJIT: the optimised module goes into the main JITDylib,
 * whose symbol generator resolves libm and the runtime from the host process (the dlc
 * executable is linked with its symbols exported), and every entry is looked up by name.
 * The model description lives in C memory owned by the be_jit. */
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <stdlib.h>
#include <string.h>

#include "be_internal.h"
#include "rt_threads.h"

struct be_jit {
  LLVMOrcLLJITRef jit;
  be_model model;
};

void be_jit_destroy(be_jit *j) {
  if (!j) return;
  if (j->jit) {
    LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
    if (e) {
      /* Nothing to report to at teardown; the message must still be released. */
      char *msg = LLVMGetErrorMessage(e);
      LLVMDisposeErrorMessage(msg);
    }
  }
  be_model_free(&j->model);
  free(j);
}

static bool create_jit(const be_target *t, LLVMOrcLLJITRef *out, ir_error *err) {
  /* The JIT gets a target machine of its own for the same cpu and features. */
  LLVMTargetMachineRef tm = be_target_machine(t);
  if (!tm) {
    ir_error_set(err, (ir_loc){0, 0}, "backend: no JIT target machine for cpu '%s'", t->cpu);
    return false;
  }
  LLVMOrcJITTargetMachineBuilderRef jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm);
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
  LLVMErrorRef e = LLVMOrcCreateLLJIT(out, builder);
  if (e) return be_take_error(e, "creating the JIT", err);
  LLVMOrcDefinitionGeneratorRef gen;
  e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(*out),
                                                           NULL, NULL);
  if (e) {
    be_take_error(e, "JIT symbol generator", err);
    LLVMErrorRef e2 = LLVMOrcDisposeLLJIT(*out);
    if (e2) LLVMConsumeError(e2);
    return false;
  }
  LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(*out), gen);
  return true;
}

bool be_jit_compile(ir_module *m, const be_options *o, be_jit **out, const dlc_model_desc **desc,
                    ir_error *err) {
  be_options def = be_options_default();
  if (!o) o = &def;
  *out = NULL;
  if (o->threads > 0 && rt_threads_set(o->threads) != 0) {
    ir_error_set(err, (ir_loc){0, 0}, "backend: %s", dlc_last_error());
    return false;
  }
  be_target t;
  if (!be_target_create(o, &t, err)) return false;
  be_jit *j = calloc(1, sizeof *j);
  IR_ASSERT(j);
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  LLVMModuleRef mod = NULL;
  bool built = be_build_llvm(m, o, &t, LLVMOrcThreadSafeContextGetContext(tsc), &mod, &j->model, err);
  bool ok = built && create_jit(&t, &j->jit, err);
  if (ok) {
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
    LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), tsm);
    if (e) {
      LLVMOrcDisposeThreadSafeModule(tsm);
      ok = be_take_error(e, "adding the module to the JIT", err);
    }
  } else if (built) {
    LLVMDisposeModule(mod);
  }
  /* The module (if added) keeps the context alive; our reference goes. */
  LLVMOrcDisposeThreadSafeContext(tsc);

  double t0 = be_now();
  dlc_entry *slots[BE_NENTRIES] = {&j->model.desc.train_step, &j->model.desc.eval_loss,
                                   &j->model.desc.forward, &j->model.desc.gradients,
                                   &j->model.desc.apply};
  for (int e = 0; ok && e < BE_NENTRIES; e++) {
    if (!j->model.has_entry[e]) continue;
    char name[64];
    snprintf(name, sizeof name, "dlc_entry_%s", be_entries[e].entry);
    LLVMOrcExecutorAddress addr = 0;
    LLVMErrorRef err2 = LLVMOrcLLJITLookup(j->jit, &addr, name);
    if (err2) {
      ok = be_take_error(err2, name, err);
      break;
    }
    *slots[e] = (dlc_entry)(uintptr_t)addr;
  }
  if (o->timings) o->timings->jit += be_now() - t0;
  be_target_dispose(&t);
  if (!ok) {
    be_jit_destroy(j);
    return false;
  }
  *out = j;
  if (desc) *desc = &j->model.desc;
  return true;
}

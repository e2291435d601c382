/* LOAD(var, name): var = the symbol `name` of the library handle `lib`, or main returns 1
 * after saying which is missing. Shared by the user programs of tests/aot. */
#ifndef DLC_TEST_LOAD_SYMBOL_H
#define DLC_TEST_LOAD_SYMBOL_H

#include <dlfcn.h>
#include <stdio.h>

#define LOAD(var, name)                                                        \
  do {                                                                         \
    *(void **)&var = dlsym(lib, name);                                         \
    if (!var) {                                                                \
      fprintf(stderr, "missing symbol %s\n", name);                            \
      return 1;                                                                \
    }                                                                          \
  } while (0)

#endif

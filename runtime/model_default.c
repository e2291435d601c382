/* dlc_create: the model this library was built for. Kept apart from model.c because
 * dlc_describe is defined by the generated code of train.so and exists nowhere else;
 * the dlc executable (which JIT-compiles and calls dlc_create_from) need not link this
 * file. Where the compiler allows, the reference is weak, so that linking this file
 * without a compiled model still works and dlc_create says what is missing. */
#include "rt.h"

#if defined(__GNUC__) && defined(__ELF__)
extern const dlc_model_desc *dlc_describe(void) __attribute__((weak));
#define HAVE_DESCRIBE() (dlc_describe != NULL)
#else
#define HAVE_DESCRIBE() 1
#endif

dlc_model *dlc_create(uint64_t seed) {
  if (!HAVE_DESCRIBE()) {
    rt_set_error("dlc_create: no compiled model is linked in (dlc_describe is missing); use dlc_create_from");
    return NULL;
  }
  return dlc_create_from(dlc_describe(), seed);
}

// oneDNN (Debian's libdnnl-dev 2.6) for Swift. Macros that Swift cannot import get static inline wrappers here.
#ifndef VIGIL_CDNNL_SHIM_H
#define VIGIL_CDNNL_SHIM_H
#include <oneapi/dnnl/dnnl.h>

/// DNNL_MEMORY_ALLOCATE is a pointer-cast macro: "let the library allocate the buffer".
static inline void *cdnnl_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }
/// DNNL_MEMORY_NONE: "no buffer yet", set later with dnnl_memory_set_data_handle.
static inline void *cdnnl_memory_none(void) { return DNNL_MEMORY_NONE; }
/// DNNL_RUNTIME_DIM_VAL: a dimension given at execution time.
static inline int64_t cdnnl_runtime_dim(void) { return DNNL_RUNTIME_DIM_VAL; }
/// Execution argument indices (macros aliasing macros).
static inline int cdnnl_arg_src(void) { return DNNL_ARG_SRC; }
static inline int cdnnl_arg_weights(void) { return DNNL_ARG_WEIGHTS; }
static inline int cdnnl_arg_bias(void) { return DNNL_ARG_BIAS; }
static inline int cdnnl_arg_dst(void) { return DNNL_ARG_DST; }
static inline int cdnnl_arg_scratchpad(void) { return DNNL_ARG_SCRATCHPAD; }
#endif

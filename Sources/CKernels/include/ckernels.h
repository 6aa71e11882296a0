// Vigil's own CPU kernels (C, optimised even in debug builds). Swift code in the Kernels target wraps them; nothing
// else calls them directly. Shape legend: T tokens, D hidden, H heads, Hkv KV heads, Hd head dim.
#ifndef VIGIL_CKERNELS_H
#define VIGIL_CKERNELS_H
#include <stddef.h>
#include <stdint.h>

#endif

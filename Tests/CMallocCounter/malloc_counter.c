// Interposed allocation functions (glibc): each forwards to glibc's own implementation (__libc_*) and, while
// counting is on, counts the call — separately for allocations made inside oneDNN (found by walking the stack and
// asking the dynamic linker which library each return address belongs to) and for everything else. Defined in the
// executable, these symbols take precedence over libc's for the whole process, shared libraries included.
#define _GNU_SOURCE
#include "malloc_counter.h"

#include <dlfcn.h>
#include <malloc.h>
#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Atomic int counting;
static _Atomic long allocations, bytes, library_allocations;
static _Thread_local int busy;
static long trace_limit;

void vmc_set_counting(int on) {
    if (on) {
        // Warm the unwinder and dladdr (their first use allocates) before counting starts.
        void *frames[4];
        busy = 1;
        int n = backtrace(frames, 4);
        Dl_info info;
        if (n > 0) dladdr(frames[0], &info);
        const char *v = getenv("VIGIL_MALLOC_TRACE");
        trace_limit = v ? atol(v) : 0;
        busy = 0;
    }
    atomic_store(&counting, on);
}

long vmc_allocations(void) { return atomic_load(&allocations); }
long vmc_library_allocations(void) { return atomic_load(&library_allocations); }
long vmc_bytes(void) { return atomic_load(&bytes); }
void vmc_reset(void) {
    atomic_store(&allocations, 0);
    atomic_store(&library_allocations, 0);
    atomic_store(&bytes, 0);
}

/// Whether one of the callers is oneDNN (libdnnl).
static int inside_library(void **frames, int depth) {
    for (int i = 2; i < depth; i++) {
        Dl_info info;
        if (dladdr(frames[i], &info) && info.dli_fname && strstr(info.dli_fname, "libdnnl")) return 1;
    }
    return 0;
}

static void count(size_t size) {
    if (!atomic_load_explicit(&counting, memory_order_relaxed) || busy) return;
    busy = 1;
    void *frames[40];
    int depth = backtrace(frames, 40);
    if (inside_library(frames, depth)) {
        atomic_fetch_add_explicit(&library_allocations, 1, memory_order_relaxed);
    } else {
        long n = atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed) + 1;
        atomic_fetch_add_explicit(&bytes, (long)size, memory_order_relaxed);
        if (n <= trace_limit) {  // VIGIL_MALLOC_TRACE=N: print where the first N allocations come from
            write(2, "--- allocation\n", 15);
            backtrace_symbols_fd(frames, depth, 2);
        }
    }
    busy = 0;
}

void *malloc(size_t size) {
    count(size);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    count(n * size);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    count(size);
    return __libc_realloc(p, size);
}

void free(void *p) { __libc_free(p); }

void *memalign(size_t alignment, size_t size) {
    count(size);
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count(size);
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    count(size);
    void *p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

long vmc_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return (long)(info.uordblks + info.hblkhd);
}

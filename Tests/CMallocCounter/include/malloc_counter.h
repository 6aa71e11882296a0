// Test-only allocation counter: interposes malloc and friends in the one process that links it (the allocation
// probe), counting every allocation while counting is on. Never linked into Vigil itself.
#ifndef VIGIL_MALLOC_COUNTER_H
#define VIGIL_MALLOC_COUNTER_H

/// Starts (1) or stops (0) counting.
void vmc_set_counting(int on);
/// Allocations counted since the last reset, outside oneDNN.
long vmc_allocations(void);
/// Allocations made inside oneDNN (libdnnl) since the last reset.
long vmc_library_allocations(void);
/// Bytes requested by the allocations outside oneDNN.
long vmc_bytes(void);
/// Sets both counters to zero.
void vmc_reset(void);

/// Heap bytes in use (glibc mallinfo2: arena blocks plus mmap'd blocks).
long vmc_heap_in_use(void);

#endif

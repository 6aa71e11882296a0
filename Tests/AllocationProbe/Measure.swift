// Counting allocations around a piece of work (shared by both probe modes).

import CMallocCounter

/// Heap bytes in use (glibc's arena and mmap'd blocks).
func heapInUse() -> Int { vmc_heap_in_use() }

/// Counts allocations during `body`: Vigil's own, oneDNN's, and the change of heap bytes in use.
func measure(_ body: () -> Void) -> (own: Int, library: Int, heapDelta: Int) {
    let before = heapInUse()
    vmc_reset()
    vmc_set_counting(1)
    body()
    vmc_set_counting(0)
    return (vmc_allocations(), vmc_library_allocations(), heapInUse() - before)
}

// A value behind a pthread mutex. FeatureMemory uses this rather than Synchronization.Mutex because Thread
// Sanitizer cannot see Mutex's futex-based hand-off on Linux (Swift 6.3.1 reports a "Swift access race" on every
// contended Mutex, even around a correct counter), so with Mutex a TSan run of the memory's concurrency test could
// not tell real races from false ones; pthread_mutex is intercepted and understood.

import Glibc

/// A value only reachable while holding its lock.
final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched inside withLock, under `mutex`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        mutex = .allocate(capacity: 1)
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` on the value while holding the lock (not re-entrant).
    func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

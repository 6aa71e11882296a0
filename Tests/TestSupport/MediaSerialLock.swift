// The one global serial lock of the test suites. Swift Testing runs suites in parallel (and every test target
// shares one process), so tests that open ports, run servers or depend on timing take this lock and run one at a
// time: `try await TestSerialLock.run { ... }`.

/// A process-wide async lock for tests that must not overlap.
public actor TestSerialLock {
    /// The single instance.
    public static let shared = TestSerialLock()

    private var isHeld = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    private func acquire() async {
        if !isHeld {
            isHeld = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty {
            isHeld = false
        } else {
            waiters.removeFirst().resume()
        }
    }

    /// Runs `body` while holding the lock.
    public static func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await shared.acquire()
        do {
            let value = try await body()
            await shared.release()
            return value
        } catch {
            await shared.release()
            throw error
        }
    }
}

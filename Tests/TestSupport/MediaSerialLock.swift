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

import Testing

/// A trait that runs each test of a suite (or one test) while holding `TestSerialLock`:
/// `@Suite(.serialized, .holdingSerialLock)`.
public struct SerialLockTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // Suites get the trait too; only the test cases themselves take the lock (it is not re-entrant).
        guard testCase != nil else { return try await function() }
        try await TestSerialLock.run { try await function() }
    }
}

extension Trait where Self == SerialLockTrait {
    /// Runs under the global serial lock (tests that open ports, run servers or depend on timing).
    public static var holdingSerialLock: SerialLockTrait { SerialLockTrait() }
}

/// How long a test waits for something that should happen at once (a refused connection to be reported, frames to
/// arrive from a loopback server). Not a timing assertion: a generous bound, so that a machine whose cores are busy
/// with the other suites cannot fail a test that only checks that the event happens.
public let livenessBound: Double = 90

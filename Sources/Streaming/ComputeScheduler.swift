// The one place model work runs: a dedicated thread that is the serial executor of every session actor, running
// their jobs in priority order (frame encoding before answering before captioning), first come first served within a
// priority. A thread of its own because OpenMP's thread count is per calling thread (`setComputeThreads` is set
// here once) and because compute after an `await` must not wander to another thread of Swift's pool; one thread for
// all sessions because the machine's cores are shared: two sessions computing at once would only halve each other.
//
// Sessions yield (`await Task.yield()`) between units of work — a frame, a chunk prefill, one answer token — so a
// frame that arrives while an answer is being decoded is encoded at the next token boundary.

import Foundation
import Kernels

/// A serial executor on a dedicated compute thread, ordering jobs by priority.
public final class ComputeScheduler: SerialExecutor, @unchecked Sendable {
    /// The process's scheduler, created on first use with `threads` compute threads (later calls reuse it).
    public static func shared(threads: Int = 2) -> ComputeScheduler {
        sharedLock.lock()
        defer { sharedLock.unlock() }
        if let existing = sharedInstance { return existing }
        let made = ComputeScheduler(name: "vigil-compute", threads: threads)
        sharedInstance = made
        return made
    }

    nonisolated(unsafe) private static var sharedInstance: ComputeScheduler?
    private static let sharedLock = NSLock()

    /// Compute threads (OpenMP) the scheduler's thread uses.
    public let threads: Int
    private let condition = NSCondition()
    /// Pending jobs per priority band (high to low), each a FIFO ring.
    private var bands: [JobRing] = (0..<4).map { _ in JobRing() }
    private var thread: Thread?
    private var jobsRun = 0

    /// Starts the compute thread.
    public init(name: String, threads: Int) {
        self.threads = max(1, threads)
        let thread = Thread { [unowned self] in self.run() }
        thread.name = name
        thread.stackSize = 16 << 20
        thread.qualityOfService = .userInitiated
        self.thread = thread
        thread.start()
    }

    /// Jobs run so far (status).
    public var completedJobs: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobsRun
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let band = Self.band(of: job.priority)
        let unowned = UnownedJob(job)
        condition.lock()
        bands[band].push(unowned)
        condition.signal()
        condition.unlock()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Maps a task priority to a band: 0 high/userInitiated (frames), 1 medium (answers), 2 low/utility (captions),
    /// 3 background.
    static func band(of priority: JobPriority) -> Int {
        let raw = priority.rawValue
        if raw >= TaskPriority.high.rawValue { return 0 }
        if raw >= TaskPriority.medium.rawValue { return 1 }
        if raw >= TaskPriority.low.rawValue { return 2 }
        return 3
    }

    private func run() {
        setComputeThreads(threads)
        while true {
            condition.lock()
            var job: UnownedJob?
            while job == nil {
                for b in 0..<bands.count where !bands[b].isEmpty {
                    job = bands[b].pop()
                    break
                }
                if job == nil { condition.wait() }
            }
            condition.unlock()
            job!.runSynchronously(on: asUnownedSerialExecutor())
            condition.lock()
            jobsRun += 1
            condition.unlock()
        }
    }
}

/// A growable FIFO ring of jobs (grows by doubling; never shrinks, so a steady state allocates nothing).
private struct JobRing {
    private var storage: [UnownedJob?] = Array(repeating: nil, count: 64)
    private var head = 0
    private var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func push(_ job: UnownedJob) {
        if count == storage.count {
            var grown = [UnownedJob?](repeating: nil, count: storage.count * 2)
            for i in 0..<count { grown[i] = storage[(head + i) % storage.count] }
            storage = grown
            head = 0
        }
        storage[(head + count) % storage.count] = job
        count += 1
    }

    mutating func pop() -> UnownedJob? {
        guard count > 0 else { return nil }
        let job = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return job
    }
}

// The bounded hand-off between the decode thread and the async consumer.
//
// `.wait` (files): a full channel blocks the producer thread until the consumer takes a frame; nothing is dropped.
// `.dropOldest` (live sources, `--realtime`): a full channel discards its oldest frame to make room, and counts it.
// The producer is a dedicated thread (blocking there is fine); the consumer awaits on a continuation, never blocking
// a thread of Swift's cooperative pool.

import Foundation

/// What a full channel does with a new element.
enum OverflowPolicy: Sendable {
    /// The producer waits for room.
    case wait
    /// The oldest buffered element is dropped.
    case dropOldest
}

/// A bounded multi-thread channel with one producer thread and one async consumer.
final class FrameChannel<Element: Sendable>: @unchecked Sendable {
    // All state below is guarded by `condition`.
    private let condition = NSCondition()
    private var buffer: [Element] = []
    private var head = 0
    private var finished = false
    private var failure: (any Error)?
    private var cancelled = false
    private var waiter: CheckedContinuation<Element?, any Error>?
    private var droppedCount = 0

    /// The most elements buffered at once.
    let capacity: Int
    /// What happens when the buffer is full.
    let policy: OverflowPolicy
    /// Called once when the consumer goes away (to abort blocking reads of the producer).
    private let onCancel: @Sendable () -> Void

    init(capacity: Int, policy: OverflowPolicy, onCancel: @escaping @Sendable () -> Void = {}) {
        self.capacity = max(1, capacity)
        self.policy = policy
        self.onCancel = onCancel
    }

    /// Elements dropped so far (`.dropOldest` only).
    var dropped: Int {
        condition.lock()
        defer { condition.unlock() }
        return droppedCount
    }

    /// True once the consumer has gone away; the producer should stop.
    var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    /// Hands `element` to the consumer. Returns false when the consumer has gone (the element is discarded).
    /// Blocks the calling thread while the channel is full under `.wait`.
    @discardableResult
    func send(_ element: Element) -> Bool {
        condition.lock()
        if let waiter {
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: element)
            return true
        }
        while policy == .wait && count >= capacity && !cancelled {
            condition.wait()
        }
        if cancelled || finished {
            condition.unlock()
            return false
        }
        if let waiter {
            // The consumer arrived while we waited for room.
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: element)
            return true
        }
        if count >= capacity {
            head += 1
            droppedCount += 1
        }
        buffer.append(element)
        compact()
        condition.unlock()
        return true
    }

    /// Ends the sequence after the buffered elements: normally when `error` is nil, else by throwing it.
    func finish(throwing error: (any Error)? = nil) {
        condition.lock()
        guard !finished else {
            condition.unlock()
            return
        }
        finished = true
        failure = error
        let waiter = count == 0 ? self.waiter : nil
        if waiter != nil { self.waiter = nil }
        condition.broadcast()
        condition.unlock()
        if let waiter {
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
    }

    /// The consumer is gone: wakes the producer and any pending `receive()`, which returns nil.
    func cancel() {
        onCancel()
        condition.lock()
        cancelled = true
        buffer.removeAll()
        head = 0
        let waiter = self.waiter
        self.waiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume(returning: nil)
    }

    /// The next element; nil at the end. Throws the producer's error after the buffered elements.
    func receive() async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Element?, any Error>) in
                condition.lock()
                if count > 0 {
                    let element = buffer[head]
                    head += 1
                    compact()
                    condition.signal()
                    condition.unlock()
                    continuation.resume(returning: element)
                } else if cancelled {
                    condition.unlock()
                    continuation.resume(returning: nil)
                } else if finished {
                    let error = failure
                    failure = nil
                    condition.unlock()
                    if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: nil) }
                } else {
                    waiter = continuation
                    condition.unlock()
                }
            }
        } onCancel: {
            cancel()
        }
    }

    private var count: Int { buffer.count - head }

    /// Drops consumed slots from the front once they are half the storage.
    private func compact() {
        if head > 0 && head * 2 >= buffer.count {
            buffer.removeFirst(head)
            head = 0
        }
    }
}

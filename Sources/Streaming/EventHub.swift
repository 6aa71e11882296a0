// A session's events (segment, answer, status, error — schema C2) fanned out to any number of subscribers: the
// terminal, `--events FILE`, SSE clients. Each event gets a sequence number; the last `capacity` events are kept so a
// client that reconnects with `Last-Event-ID` resumes where it left off. A subscriber that falls behind by more than
// `capacity` events loses the oldest ones (its stream says how many), never the publisher's time or memory.

import Foundation
import Synchronization
import VigilCore

/// One published event with its sequence number.
public struct NumberedEvent: Sendable {
    /// 1, 2, 3 … per hub.
    public let id: Int
    public let event: VigilEvent
}

/// A bounded broadcaster of events.
public final class EventHub: Sendable {
    private struct State {
        var ring: [NumberedEvent] = []
        var nextID = 1
        var subscribers: [Int: AsyncStream<NumberedEvent>.Continuation] = [:]
        var nextSubscriber = 0
        var finished = false
    }

    /// Events kept for late subscribers and resumption.
    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int = 1024) {
        self.capacity = max(1, capacity)
    }

    /// Publishes `event` to every subscriber; returns its number.
    @discardableResult
    public func publish(_ event: VigilEvent) -> Int {
        state.withLock { s in
            let numbered = NumberedEvent(id: s.nextID, event: event)
            s.nextID += 1
            s.ring.append(numbered)
            if s.ring.count > capacity { s.ring.removeFirst(s.ring.count - capacity) }
            for c in s.subscribers.values { c.yield(numbered) }
            return numbered.id
        }
    }

    /// The number the next event will get.
    public var nextID: Int { state.withLock { $0.nextID } }

    /// Kept events with numbers above `id` (all kept events for nil).
    public func events(after id: Int?) -> [NumberedEvent] {
        state.withLock { s in s.ring.filter { $0.id > (id ?? 0) } }
    }

    /// A stream of events from now on — after replaying kept events numbered above `after` when given. The stream
    /// buffers at most `capacity` events for a slow reader (older ones are dropped) and ends when the hub finishes.
    public func subscribe(after: Int? = nil) -> AsyncStream<NumberedEvent> {
        let (stream, continuation) = AsyncStream<NumberedEvent>.makeStream(bufferingPolicy: .bufferingNewest(capacity))
        state.withLock { s in
            if let after { for e in s.ring where e.id > after { continuation.yield(e) } }
            if s.finished {
                continuation.finish()
                return
            }
            let key = s.nextSubscriber
            s.nextSubscriber += 1
            s.subscribers[key] = continuation
            continuation.onTermination = { [weak self] _ in
                _ = self?.state.withLock { $0.subscribers.removeValue(forKey: key) }
            }
        }
        return stream
    }

    /// Subscribers now.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Ends every subscription (after the events already published).
    public func finish() {
        let subscribers = state.withLock { s -> [AsyncStream<NumberedEvent>.Continuation] in
            s.finished = true
            defer { s.subscribers.removeAll() }
            return Array(s.subscribers.values)
        }
        for c in subscribers { c.finish() }
    }
}

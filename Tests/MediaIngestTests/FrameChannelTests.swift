// The bounded channel between the decode thread and the consumer: waiting versus dropping the oldest.

import Foundation
import Synchronization
import Testing

@testable import MediaIngest

@Suite struct FrameChannelTests {}

extension FrameChannelTests {
    @Test func dropOldestKeepsTheNewestAndCountsDrops() async throws {
        let channel = FrameChannel<Int>(capacity: 3, policy: .dropOldest)
        for i in 0..<10 { channel.send(i) }
        channel.finish()
        var received: [Int] = []
        while let value = try await channel.receive() { received.append(value) }
        #expect(received == [7, 8, 9])
        #expect(channel.dropped == 7)
    }

    @Test func waitLosesNothingWhileTheProducerBlocks() async throws {
        let channel = FrameChannel<Int>(capacity: 2, policy: .wait)
        let producer = Thread {
            for i in 0..<200 { channel.send(i) }
            channel.finish()
        }
        producer.start()
        var received: [Int] = []
        while let value = try await channel.receive() {
            received.append(value)
            if value % 50 == 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        }
        #expect(received == Array(0..<200))
        #expect(channel.dropped == 0)
    }

    @Test func anErrorArrivesAfterTheBufferedElements() async throws {
        let channel = FrameChannel<Int>(capacity: 4, policy: .wait)
        channel.send(1)
        channel.send(2)
        channel.finish(throwing: MediaError.readFailed(source: "x", reason: "test"))
        #expect(try await channel.receive() == 1)
        #expect(try await channel.receive() == 2)
        await #expect(throws: MediaError.self) { try await channel.receive() }
    }

    @Test func cancellingWakesABlockedProducer() async throws {
        let channel = FrameChannel<Int>(capacity: 1, policy: .wait)
        let outcome = Mutex<Bool?>(nil)
        let producer = Thread {
            channel.send(0)
            let accepted = channel.send(1)  // the channel is full: blocks until cancelled
            outcome.withLock { $0 = accepted }
        }
        producer.start()
        try await Task.sleep(nanoseconds: 50_000_000)
        channel.cancel()
        while outcome.withLock({ $0 }) == nil { try await Task.sleep(nanoseconds: 1_000_000) }
        #expect(outcome.withLock { $0 } == false)
        #expect(try await channel.receive() == nil)
    }
}

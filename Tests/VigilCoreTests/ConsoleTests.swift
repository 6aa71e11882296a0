// Console's terminal sink leaves writes to pipes and files alone: they reach their descriptor whether a sink is set
// or not. (That writes aimed at a terminal go to the sink is checked through a real terminal by LineEditorTests.)

import Glibc
import Synchronization
import Testing
import VigilCore

@Suite struct ConsoleTests {
    @Test func writesToAPipeBypassTheTerminalSink() throws {
        var pipeFDs: [Int32] = [0, 0]
        try #require(pipe(&pipeFDs) == 0)
        defer { pipeFDs.forEach { close($0) } }
        let received = Mutex<[String]>([])
        Console.setTerminalSink { text, _ in received.withLock { $0.append(text) } }
        Console.write("with a sink, ", to: pipeFDs[1])
        Console.setTerminalSink(nil)
        Console.write("without", to: pipeFDs[1])

        #expect(received.withLock { $0 }.isEmpty)
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(pipeFDs[0], &buffer, buffer.count)
        #expect(String(decoding: buffer[0..<max(count, 0)], as: UTF8.self) == "with a sink, without")
    }
}

// Placeholder until the libedit line editor lands: never available, so `watch` reads plain lines.
import Foundation

final class LineEditor: @unchecked Sendable {
    static var isAvailable: Bool { false }
    init(prompt: String, historyFile: URL?) throws { throw CancellationError() }
    var lines: AsyncStream<String> { AsyncStream { $0.finish() } }
    func write(_ text: String) {}
    func setPrompt(_ prompt: String) {}
    func close() {}
}

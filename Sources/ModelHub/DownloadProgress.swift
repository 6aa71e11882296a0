// The progress line of one file download on stderr, drawn only when stderr is a terminal:
//
//   model.safetensors  [########........]  201.3 MB / 513.0 MB  11.2 MB/s  ETA 0:28
//
// Redrawn in place (carriage return, erase to end of line) at most ten times a second, and finished with a
// summary and a newline. Rate and ETA count only the bytes of this run (a resumed download starts part way).

import Dispatch
import Synchronization
import VigilCore

/// A progress bar for one download.
final class DownloadProgress: Sendable {
    private struct State {
        var current: Int64
        var lastDraw: UInt64 = 0
        var finished = false
    }

    private let label: String
    private let total: Int64
    private let initial: Int64
    private let enabled: Bool
    private let start = DispatchTime.now().uptimeNanoseconds
    private let state: Mutex<State>

    /// A bar for `label` of `total` bytes, `initial` already on disk; draws nothing unless `enabled`.
    init(label: String, total: Int64, initial: Int64, enabled: Bool) {
        self.label = label.count > 32 ? "…" + label.suffix(31) : label
        self.total = total
        self.initial = initial
        self.enabled = enabled
        self.state = Mutex(State(current: initial))
    }

    /// Sets the bytes on disk to `bytes` and redraws when due.
    func update(_ bytes: Int64) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let line: String? = state.withLock { state in
            state.current = bytes
            guard !state.finished, now - state.lastDraw >= 100_000_000 else { return nil }
            state.lastDraw = now
            return render(bytes, now: now, done: false)
        }
        if let line { Console.write("\r" + line + "\u{1B}[K", to: 2) }
    }

    /// Draws the final line and moves to the next one.
    func finish() {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let line: String? = state.withLock { state in
            guard !state.finished else { return nil }
            state.finished = true
            return render(state.current, now: now, done: true)
        }
        if let line { Console.write("\r" + line + "\u{1B}[K\n", to: 2) }
    }

    private func render(_ bytes: Int64, now: UInt64, done: Bool) -> String {
        let elapsed = Double(now - start) / 1e9
        let rate = elapsed > 0 ? Double(bytes - initial) / elapsed : 0
        let width = 20
        let fraction = total > 0 ? min(1, Double(bytes) / Double(total)) : 1
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        var line = "\(label)  [\(bar)]  \(ByteFormat.string(bytes)) / \(ByteFormat.string(total))"
        line += "  \(ByteFormat.string(Int64(rate)))/s"
        if done {
            line += "  \(ByteFormat.duration(elapsed))"
        } else {
            let eta = rate > 0 ? Double(total - bytes) / rate : .infinity
            line += "  ETA \(ByteFormat.duration(eta))"
        }
        return line
    }
}

// SIGINT / SIGTERM handling. The first signal asks the running command to stop (its task is cancelled, and
// libraries that block in C — FFmpeg reads — watch `isRequested` through their abort callbacks); output written so
// far is already on its file descriptor. A second signal exits immediately with 130.

import Dispatch
import Foundation
import Synchronization
import VigilCore

/// Process-wide interruption state.
public enum Interruption {
    private static let requested = Atomic<Bool>(false)
    private static let handlers = Mutex<[@Sendable () -> Void]>([])
    private static let sources = Mutex<[DispatchSourceSignal]>([])

    /// True once SIGINT or SIGTERM has arrived.
    public static var isRequested: Bool { requested.load(ordering: .relaxed) }

    /// Runs `handler` when an interruption arrives (at once if it already has).
    public static func onInterrupt(_ handler: @escaping @Sendable () -> Void) {
        if isRequested {
            handler()
            return
        }
        handlers.withLock { $0.append(handler) }
    }

    /// Installs the signal handlers (idempotent).
    static func install() {
        sources.withLock { sources in
            guard sources.isEmpty else { return }
            for signo in [SIGINT, SIGTERM] {
                signal(signo, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
                source.setEventHandler { trigger() }
                source.resume()
                sources.append(source)
            }
        }
    }

    /// Marks the process interrupted and runs the handlers; a repeated interruption exits immediately.
    static func trigger() {
        if requested.exchange(true, ordering: .relaxed) {
            exit(ExitCode.interrupted.rawValue)
        }
        Log.info("interrupted; stopping (press Ctrl-C again to quit at once)")
        let pending = handlers.withLock { list in
            defer { list = [] }
            return list
        }
        for handler in pending { handler() }
    }
}

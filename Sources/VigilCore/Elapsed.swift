// Elapsed wall time on the monotonic clock, for the timings the CLI and the generator report.

import Dispatch

extension DispatchTime {
    /// Seconds from this instant to now (monotonic clock).
    public var secondsElapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - uptimeNanoseconds) / 1e9 }
}

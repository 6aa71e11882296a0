// Placeholder; implemented below in this issue.
import Foundation
extension BenchCommand {
    func runStreamText(file: String) async throws { throw ValidationError("--stream-text is not built yet") }
}

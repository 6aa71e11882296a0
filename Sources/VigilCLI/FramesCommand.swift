// `vigil frames` (placeholder until its issue lands).

import VigilCore

/// `vigil frames`.
struct FramesCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "frames", abstract: "Not available yet.", arguments: [])

    init(_ arguments: ParsedArguments) throws {}

    func run() async throws {
        throw ValidationError("'vigil frames' is not available in this build yet")
    }
}

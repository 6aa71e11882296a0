// `vigil probe` (placeholder until its issue lands).

import VigilCore

/// `vigil probe`.
struct ProbeCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "probe", abstract: "Not available yet.", arguments: [])

    init(_ arguments: ParsedArguments) throws {}

    func run() async throws {
        throw ValidationError("'vigil probe' is not available in this build yet")
    }
}

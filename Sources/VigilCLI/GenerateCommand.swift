// `vigil generate` (placeholder until its issue lands).

import VigilCore

/// `vigil generate`.
struct GenerateCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "generate", abstract: "Not available yet.", arguments: [])

    init(_ arguments: ParsedArguments) throws {}

    func run() async throws {
        throw ValidationError("'vigil generate' is not available in this build yet")
    }
}

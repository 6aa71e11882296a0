// `vigil bench` (placeholder until its issue lands).

import VigilCore

/// `vigil bench`.
struct BenchCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "bench", abstract: "Not available yet.", arguments: [])

    init(_ arguments: ParsedArguments) throws {}

    func run() async throws {
        throw ValidationError("'vigil bench' is not available in this build yet")
    }
}

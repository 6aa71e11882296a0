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

    /// True when the tests run in CI (`CI=true`): missing optional inputs are failures there, not skips.
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
}

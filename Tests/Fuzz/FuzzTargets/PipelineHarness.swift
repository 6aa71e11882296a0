// Fuzz harness: pipeline presets (`--pipeline FILE`). The input is the file's text, parsed, applied to a session
// configuration and checked as a whole, as `vigil watch` does.

import Streaming

enum PipelineHarness {
    static func run(_ input: [UInt8]) {
        guard let pipeline = try? Pipeline.parse(FuzzInput.text(input), path: "fuzz.conf") else { return }
        var configuration = SessionConfiguration()
        guard (try? pipeline.apply(to: &configuration)) != nil else { return }
        _ = configuration.problems(tokensPerFrame: 64)
    }
}

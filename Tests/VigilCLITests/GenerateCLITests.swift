// End-to-end tests of `vigil generate`: the built binary on the committed tiny checkpoint B (transformers 5.24's
// own file layout, the real tokenizer) gives exactly transformers' prompt length and greedy ids for a PNG image;
// the real SmolLM2 GGUF answers in English; damaged models and bad arguments fail cleanly.

import Foundation
import TestSupport
import Testing

@Suite(.serialized, .holdingSerialLock) struct GenerateCLITests {
    static let checkpoint = Fixtures.url("smolvlm/tiny-realtok").path
    static let media = Fixtures.url("smolvlm/media")

    static func golden(_ name: String) throws -> [String: Any] {
        let url = Fixtures.url("smolvlm/tiny-realtok/golden/\(name).json")
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    @Test func imagePromptGivesTransformersIds() throws {
        let golden = try Self.golden("image_split")
        let greedy = (golden["greedy"] as! [String: Any])["ids"] as! [Int]
        let result = try VigilBinary.run([
            "generate", "--model", Self.checkpoint, "--image", Self.media.appendingPathComponent("landscape_100x80.png").path,
            "--prompt", golden["text"] as! String, "--max-tokens", String(greedy.count), "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try VigilBinary.object(try #require(result.stdout.last))
        #expect(object["prompt_tokens"] as? Int == golden["prompt_tokens"] as? Int)
        #expect(object["tokens"] as? [Int] == greedy)
        #expect((object["timings"] as? [String: Any])?["ttft_s"] != nil)
    }

    @Test func videoPromptHasTheReferenceStructure() throws {
        let golden = try Self.golden("video")
        let result = try VigilBinary.run([
            "generate", "--model", Self.checkpoint, "--video", Self.media.appendingPathComponent("motion_96x64_3s_30fps.mkv").path,
            "--prompt", golden["text"] as! String, "--max-tokens", "4", "--json", "--precision", "auto",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try VigilBinary.object(try #require(result.stdout.last))
        // Frames 0, 44 and 89 of the clip, the processor's video prompt: the reference's token count.
        #expect(object["prompt_tokens"] as? Int == golden["prompt_tokens"] as? Int)
        #expect((object["tokens"] as? [Int])?.count == 4)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: Fixtures.smolLM2GGUF.path) || Fixtures.isCI, "the SmolLM2 GGUF is missing: run scripts/setup"))
    func ggufAnswersTheCapitalOfFrance() throws {
        let result = try VigilBinary.run([
            "generate", "--model", Fixtures.smolLM2GGUF.path, "--prompt", "What is the capital of France?", "--temperature", "0",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.joined(separator: "\n").contains("The capital of France is Paris."))
    }

    @Test func badModelsAndArgumentsFailCleanly() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try Data("{\"model_type\": \"smolvlm\"".utf8).write(to: empty.appendingPathComponent("config.json"))
        try Data("{}".utf8).write(to: empty.appendingPathComponent("tokenizer.json"))
        let cases: [([String], Int32, String)] = [
            (["generate", "--model", empty.path, "--prompt", "hi"], 1, empty.path),
            (["generate", "--model", "/no/such/folder", "--prompt", "hi", "--offline"], 1, "/no/such/folder"),
            (["generate", "--model", Self.checkpoint, "--prompt", "hi", "--image", "/no/such.png"], 1, "/no/such.png"),
            (["generate", "--model", Self.checkpoint], 64, "--prompt"),
            (["generate", "--model", Self.checkpoint, "--prompt", "hi", "--temperature", "hot"], 64, "--temperature"),
            (["generate", "--model", Self.checkpoint, "--prompt", "hi", "--image", "a.png", "--video", "b.mp4"], 64, "--video"),
            (["generate", "--random-weights", "smolvlm2-9b", "--prompt", "hi"], 64, "smolvlm2-9b"),
        ]
        for (arguments, status, mention) in cases {
            let result = try VigilBinary.run(arguments)
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            let text = result.stderr.joined(separator: "\n")
            #expect(text.contains(mention), "\(arguments): \(text)")
            #expect(!text.contains("Fatal error") && !text.contains("Crash"), "\(arguments)")
        }
    }
}

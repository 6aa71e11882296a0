// STC-Pruner (streaming brief C10) and the live prompt's tokenisation: exactly k tokens kept in raster order, an odd
// token survives, the temporal anchor starts afresh on reset; chunk-by-chunk tokenisation equals tokenising the whole
// session text with the real SmolVLM2 tokenizer; pipeline presets parse and report errors by file and line.

import Foundation
import Kernels
import SmolVLM
import Streaming
import Testing
import TestSupport
import Tokenization

@Suite struct TokenPrunerTests {
    /// A frame of 64 tokens of width 32 near one colour, with token `odd` different.
    static func frame(base: Float, odd: Int?, seed: UInt64) -> Tensor {
        let t = Tensor.random([64, 32], seed: seed, scale: 0.01)
        for i in 0..<64 {
            for d in 0..<32 { t.floats[i * 32 + d] += d % 2 == 0 ? base : -base }
        }
        if let odd { for d in 0..<32 { t.floats[odd * 32 + d] = d < 16 ? 3 : -3 } }
        return t
    }

    @Test func keepsExactlyKInRasterOrder() {
        let pruner = TokenPruner(settings: PrunerSettings(keep: 48), tokensPerFrame: 64, width: 32)
        let out = Tensor(zeros: [48, 32])
        for seed in 1...20 {
            let kept = Array(pruner.prune(Tensor.random([64, 32], seed: UInt64(seed), scale: 1), into: out))
            #expect(kept.count == 48)
            #expect(kept == kept.sorted() && Set(kept).count == 48)
        }
    }

    @Test func anOddTokenIsKept() {
        let pruner = TokenPruner(settings: PrunerSettings(keep: 16), tokensPerFrame: 64, width: 32)
        let out = Tensor(zeros: [16, 32])
        for (i, odd) in [5, 63, 0, 40].enumerated() {
            let frame = Self.frame(base: 1, odd: odd, seed: UInt64(i + 1))
            let kept = Array(pruner.prune(frame, into: out))
            #expect(kept.contains(Int32(odd)), "token \(odd) of frame \(i)")
            // Its row is copied in place among the kept tokens.
            let row = kept.firstIndex(of: Int32(odd))!
            #expect(out.floats[row * 32] == 3)
        }
    }

    @Test func offKeepsEverything() {
        let pruner = TokenPruner(settings: PrunerSettings(keep: 64), tokensPerFrame: 64, width: 32)
        let out = Tensor(zeros: [64, 32])
        let frame = Tensor.random([64, 32], seed: 3, scale: 1)
        #expect(Array(pruner.prune(frame, into: out)) == (0..<64).map(Int32.init))
        #expect(out.toArray() == frame.toArray())
    }

    @Test func temporalAnchorResets() {
        let settings = PrunerSettings(keep: 8, alpha: 1, window: 16)  // temporal anchor only
        let a = TokenPruner(settings: settings, tokensPerFrame: 64, width: 32)
        let b = TokenPruner(settings: settings, tokensPerFrame: 64, width: 32)
        let out = Tensor(zeros: [8, 32])
        // History of one colour, then a frame of another: the pruner with history scores differently.
        for s in 0..<5 { a.prune(Self.frame(base: 1, odd: nil, seed: UInt64(s)), into: out) }
        let probe = Self.frame(base: -1, odd: nil, seed: 99)
        a.prune(probe, into: out)
        let withHistory = Array(a.lastScores)
        a.reset()
        a.prune(probe, into: out)
        b.prune(probe, into: out)
        #expect(Array(a.lastScores) == Array(b.lastScores), "after reset the pruner acts like a new one")
        #expect(withHistory != Array(b.lastScores))
    }
}

@Suite struct StreamPromptTests {
    /// The real SmolVLM2 tokenizer (checkpoint B's tokenizer.json).
    static let model = try! VisionLanguageModel.load(folder: Fixtures.url("smolvlm/tiny-realtok"), precision: .fp32)

    @Test func chunkByChunkEqualsTheWholeString() throws {
        let prompt = try StreamPrompt(model: Self.model)
        let tokenizer = Self.model.tokenizer
        var pieces: [String] = [StreamPrompt.sinkText(instruction: "Describe what you see.", system: "Be brief.")]
        var ids = prompt.sinkIDs(instruction: "Describe what you see.", system: "Be brief.")
        var afterQA = false
        for t in [0.0, 1, 2, 59, 60, 61.5, 3599, 3600, 5000] {
            pieces.append(StreamPrompt.chunkText(time: t, imageTokens: 7, reopensTurn: afterQA))
            ids += prompt.chunkIDs(time: t, imageTokens: 7, reopensTurn: afterQA)
            afterQA = false
            if t == 2 || t == 3600 {
                let q = "What is on the table, and what colour is it?"
                pieces.append(StreamPrompt.questionText(q))
                ids += prompt.questionIDs(q)
                // The answer: ordinary text the model generated, then the closing marker.
                let answer = " A red cup."
                pieces.append(answer + PromptBuilder.endOfUtterance)
                ids += tokenizer.encode(answer) + [prompt.endOfUtteranceID]
                afterQA = true
            }
        }
        #expect(tokenizer.encode(pieces.joined()) == ids)
    }

    @Test func chunkTextCarriesTheTimeAndImageTokens() throws {
        let prompt = try StreamPrompt(model: Self.model)
        #expect(StreamPrompt.chunkText(time: 75.9, imageTokens: 2, reopensTurn: false)
            == "\nFrame from 01:15:<fake_token_around_image><global-img><image><image><fake_token_around_image>")
        #expect(StreamPrompt.chunkText(time: 3725, imageTokens: 1, reopensTurn: true).hasPrefix("\nUser:\nFrame from 62:05:"))
        let ids = prompt.chunkIDs(time: 0, imageTokens: 5, reopensTurn: false)
        #expect(ids.filter { $0 == prompt.imageTokenID }.count == 5)
        #expect(ids.last == Self.model.tokenizer.id(of: PromptBuilder.fakeTokenAroundImage))
    }
}

@Suite struct PipelineTests {
    @Test func theShippedPresetsLoad() throws {
        let folder = Fixtures.repositoryRoot.appendingPathComponent("pipelines")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".conf") }
        #expect(files.count >= 3)
        for file in files {
            var c = SessionConfiguration()
            try Pipeline.load(folder.appendingPathComponent(file).path).apply(to: &c)
        }
        var realtime = SessionConfiguration()
        try Pipeline.load(folder.appendingPathComponent("realtime-cpu.conf").path).apply(to: &realtime)
        #expect(realtime.cacher.interval >= 2)
    }

    @Test func errorsNameTheFileAndLine() {
        func failure(_ text: String) -> String {
            do {
                _ = try Pipeline.parse(text, path: "/tmp/p.conf")
                return ""
            } catch {
                return error.description
            }
        }
        #expect(failure("fps = 1\nkeep-tokenz = 3\n").hasPrefix("pipeline /tmp/p.conf:2: unknown key 'keep-tokenz'"))
        #expect(failure("# ok\n\nfps = fast\n").hasPrefix("pipeline /tmp/p.conf:3: '"))
        #expect(failure("fps = 100\n").contains("/tmp/p.conf:1"))
        #expect(failure("fps 1\n").contains("expected 'key = value'"))
        #expect(failure("fps = 1\nfps = 2\n").contains("already set on line 1"))
        #expect(failure("commentary = sometimes\n").contains("not one of off|interval|scene"))
    }

    @Test func optionsOverrideThePreset() throws {
        var c = SessionConfiguration()
        try Pipeline.parse("keep-tokens = 32\nwindow = 8\n", path: "p.conf").apply(to: &c)
        try SessionConfiguration.option(named: "window")!.apply("20", to: &c)
        #expect(c.pruner.keep == 32 && c.budget.visionWindowSeconds == 20)
    }
}

// The real SmolLM2-135M-Instruct Q4_1 GGUF (scripts/setup) against the transformers goldens of
// scripts/fixtures/make_gguf_goldens.py: metadata, dequantised tensors value by value (Q8_0 embedding, Q4_1
// matrices with the rotary rows un-permuted, F32 norms), chat prompts, and the errors of truncated copies.
// Without the file these tests are skipped, except with CI=true, where they fail and say to run scripts/setup.

import Foundation
import Kernels
import Testing
import TestSupport

@testable import SmolVLM

@Suite(.enabled(if: RealGGUF.shouldRun, RealGGUF.skipNote), .holdingSerialLock)
struct GGUFRealFileTests {
    @Test func headerAndMetadata() throws {
        let file = try GGUFFile(contentsOf: try RealGGUF.require())
        #expect(file.version == 3 && file.alignment == 32)
        #expect(file.tensors.count == 272 && file.metadata.count == 33)
        #expect(file.metadata["general.architecture"] == .string("llama"))
        #expect(file.metadata["tokenizer.ggml.tokens"]?.strings?.count == 49_152)
        #expect(file.metadata["tokenizer.ggml.merges"]?.strings?.count == 48_900)
        var types: [String: Int] = [:]
        for info in file.tensors { types[info.type.name, default: 0] += 1 }
        #expect(types == ["Q4_1": 210, "F32": 61, "Q8_0": 1])
        #expect(file.tensor(named: "token_embd.weight")?.shape == [49_152, 576])
        #expect(file.tensor(named: "output.weight") == nil)
    }

    @Test func hyperparametersMatchTransformers() throws {
        let checkpoint = try RealGGUF.checkpoint()
        let g = try RealGGUF.goldens().hyperparameters
        #expect(
            checkpoint.hyperparameters
                == LlamaHyperparameters(
                    layerCount: g.layer_count, hiddenSize: g.hidden_size, intermediateSize: g.intermediate_size,
                    headCount: g.head_count, kvHeadCount: g.kv_head_count, headDim: g.head_dim,
                    ropeTheta: Float(g.rope_theta), rmsNormEps: Float(g.rms_norm_eps), vocabSize: g.vocab_size,
                    contextLength: g.context_length, tiedEmbeddings: g.tied_embeddings))
        #expect(checkpoint.bosTokenID == g.bos_token_id && checkpoint.eosTokenIDs == [g.eos_token_id])
        #expect(checkpoint.padTokenID == 2 && !checkpoint.addsBOSToken)
        #expect(checkpoint.tokenizerVocabulary.count == 49_152 && checkpoint.tokenizerMerges.count == 48_900)
        #expect(checkpoint.tokenizerVocabulary[2] == "<|im_end|>")
        #expect(checkpoint.addedTokens.count == 17 && checkpoint.addedTokens.allSatisfy(\.isSpecial))
        #expect(checkpoint.weights.count == 272 && checkpoint.weights["lm_head.weight"] == nil)
        _ = try checkpoint.makeTokenizer()
    }

    @Test func dequantisedTensorsMatchTransformers() throws {
        let checkpoint = try RealGGUF.checkpoint()
        let checks = try RealGGUF.goldens().tensors
        #expect(Set(checks.map(\.type)) == ["Q8_0", "Q4_1", "F32"])
        for check in checks {
            let name = check.hf_name
            #expect(GGUFLlamaCheckpoint.huggingFaceName(forGGUFName: check.gguf_name) == name)
            let t = try #require(checkpoint.weights[name], "\(name)")
            #expect(t.shape == check.shape, "\(name)")
            // Bit-identical: the dequantisers round exactly as gguf-py's numpy code does.
            #expect((0..<64).map { t.floats[$0] } == check.first64.map { Float($0) }, "\(name) first 64")
            var sum = 0.0
            var absSum = 0.0
            for i in 0..<t.count {
                sum += Double(t.floats[i])
                absSum += Double(abs(t.floats[i]))
            }
            #expect(abs(sum - check.sum) <= 1e-9 * max(1, check.abs_sum), "\(name) sum \(sum) vs \(check.sum)")
            #expect(abs(absSum - check.abs_sum) <= 1e-9 * check.abs_sum, "\(name) abs sum")
            let columns = t.shape.count == 2 ? t.shape[1] : t.count
            for row in check.rows ?? [] {
                let values = (0..<row.values.count).map { t.floats[row.index * columns + $0] }
                #expect(values == row.values.map { Float($0) }, "\(name) row \(row.index)")
            }
            if let rowSums = check.row_sums {
                // Every row's sum: pins the row order, i.e. the un-permutation of attn_q and attn_k.
                for (r, expected) in rowSums.enumerated() {
                    var s = 0.0
                    for c in 0..<columns { s += Double(t.floats[r * columns + c]) }
                    #expect(abs(s - expected) <= 1e-9 * max(1, abs(expected)), "\(name) row \(r) sum")
                }
            }
        }
    }

    @Test func loadTensorKeepsTheFilesRowOrder() throws {
        // GGUFFile.loadTensor returns attn_q as stored (permuted); the checkpoint un-permutes it.
        let file = try GGUFFile(contentsOf: try RealGGUF.require())
        let raw = try file.loadTensor(try #require(file.tensor(named: "blk.0.attn_q.weight")))
        let restored = GGUFLlamaCheckpoint.unpermuteRotaryRows(raw, headCount: 9)
        let check = try #require(try RealGGUF.goldens().tensors.first { $0.gguf_name == "blk.0.attn_q.weight" })
        let row32 = try #require(check.rows?.first { $0.index == 32 })
        #expect((0..<16).map { restored.floats[32 * 576 + $0] } == row32.values.map { Float($0) })
        #expect((0..<16).map { raw.floats[1 * 576 + $0] } == row32.values.map { Float($0) })  // GGUF row 1
    }

    @Test func chatPromptsMatchTransformers() throws {
        let checkpoint = try RealGGUF.checkpoint()
        let prompts = try RealGGUF.goldens().prompts
        #expect(prompts.count >= 5)
        #expect(prompts[0].messages.last?.content == "What is the capital of France?")
        for golden in prompts {
            let messages = golden.messages.map { (role: $0.role, content: $0.content) }
            #expect(try checkpoint.chatPrompt(messages: messages, addGenerationPrompt: true) == golden.prompt)
            #expect(golden.prompt_ids.allSatisfy { (0..<49_152).contains($0) } && golden.greedy_ids.count == 32)
        }
    }

    @Test func truncatedCopiesThrowClearErrors() throws {
        let url = try RealGGUF.require()
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let source = try FileHandle(forReadingFrom: url)
        defer { try? source.close() }
        let size = Int(try source.seekToEnd())
        // Inside the tokenizer's merges, inside the tensor table, and inside the last tensor's data.
        for (length, mentions) in [(1_000_000, "tokenizer.ggml.merges"), (1_780_000, "tensor"), (size - 100, "data")] {
            try source.seek(toOffset: 0)
            let prefix = try #require(try source.read(upToCount: length))
            let cut = folder.url.appendingPathComponent("cut-\(length).gguf")
            try prefix.write(to: cut)
            let error = #expect(throws: GGUFError.self) { _ = try GGUFLlamaCheckpoint.load(cut) }
            #expect(error?.code == .truncated, "\(length)")
            #expect(error?.description.hasPrefix(cut.path) == true)
            #expect(error?.description.contains(mentions) == true, "\(String(describing: error))")
        }
    }
}

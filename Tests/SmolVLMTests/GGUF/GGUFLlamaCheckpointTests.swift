// GGUFLlamaCheckpoint on tiny synthetic llama files: name mapping, PyTorch layout, the inverse of llama.cpp's rotary
// row permutation, hyper-parameters, tokenizer metadata, the chat template, and the checked-loading errors.

import Foundation
import Kernels
import Testing

@testable import SmolVLM

@Suite struct GGUFLlamaCheckpointTests {
    /// The SmolLM2-Instruct chat template as the GGUF stores it.
    static let smolLM2Template = """
        {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
        You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
        ' }}{% endif %}{{'<|im_start|>' + message['role'] + '
        ' + message['content'] + '<|im_end|>' + '
        '}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
        ' }}{% endif %}
        """

    // Tiny llama: 2 layers, D 8, I 12, H 2 heads, Hkv 1, Hd 4, 6 tokens.
    static let (layers, width, inner, heads, kvHeads, headDim, vocab) = (2, 8, 12, 2, 1, 4, 6)

    /// Row r, column c of tensor number `t` holds t·10000 + r·100 + c, so every value says where it came from.
    static func values(_ t: Int, _ shape: [Int]) -> [Float] {
        let columns = shape.count == 2 ? shape[1] : shape[0]
        let rows = shape.count == 2 ? shape[0] : 1
        return (0..<rows).flatMap { r in (0..<columns).map { c in Float(t * 10_000 + r * 100 + c) } }
    }

    /// A complete tiny llama GGUF (F32 weights, PyTorch shapes as GGUF stores them).
    static func builder(tied: Bool = true) -> GGUFBuilder {
        var b = GGUFBuilder()
        b.add("general.architecture", .string("llama"))
        b.add("llama.block_count", .uint32(UInt32(layers)))
        b.add("llama.context_length", .uint32(64))
        b.add("llama.embedding_length", .uint32(UInt32(width)))
        b.add("llama.feed_forward_length", .uint32(UInt32(inner)))
        b.add("llama.attention.head_count", .uint32(UInt32(heads)))
        b.add("llama.attention.head_count_kv", .uint32(UInt32(kvHeads)))
        b.add("llama.rope.freq_base", .float32(100_000))
        b.add("llama.attention.layer_norm_rms_epsilon", .float32(1e-5))
        b.add("llama.rope.dimension_count", .uint32(UInt32(headDim)))
        b.add("tokenizer.ggml.model", .string("gpt2"))
        b.add("tokenizer.ggml.pre", .string("smollm"))
        let tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a", "b", "ab"]
        b.add("tokenizer.ggml.tokens", .array(elementType: .string, values: tokens.map { .string($0) }))
        b.add("tokenizer.ggml.token_type", .array(elementType: .int32, values: [3, 3, 3, 1, 1, 4].map { .int32($0) }))
        b.add("tokenizer.ggml.merges", .array(elementType: .string, values: [.string("a b")]))
        b.add("tokenizer.ggml.bos_token_id", .uint32(1))
        b.add("tokenizer.ggml.eos_token_id", .uint32(2))
        b.add("tokenizer.ggml.padding_token_id", .uint32(2))
        b.add("tokenizer.chat_template", .string(smolLM2Template))
        var t = 0
        func add(_ name: String, _ shape: [Int]) {
            t += 1
            b.addF32(name, shape: shape, values: values(t, shape))
        }
        add("token_embd.weight", [vocab, width])
        for n in 0..<layers {
            add("blk.\(n).attn_norm.weight", [width])
            add("blk.\(n).attn_q.weight", [heads * headDim, width])
            add("blk.\(n).attn_k.weight", [kvHeads * headDim, width])
            add("blk.\(n).attn_v.weight", [kvHeads * headDim, width])
            add("blk.\(n).attn_output.weight", [width, heads * headDim])
            add("blk.\(n).ffn_norm.weight", [width])
            add("blk.\(n).ffn_gate.weight", [inner, width])
            add("blk.\(n).ffn_up.weight", [inner, width])
            add("blk.\(n).ffn_down.weight", [width, inner])
        }
        add("output_norm.weight", [width])
        if !tied { add("output.weight", [vocab, width]) }
        return b
    }

    /// Loads the checkpoint written by `builder`.
    static func load(_ builder: GGUFBuilder) throws -> GGUFLlamaCheckpoint {
        try GGUFLlamaCheckpoint(file: GGUFFileTests.open(builder))
    }

    /// The error loading `builder` throws.
    static func loadError(_ builder: GGUFBuilder) -> GGUFError? {
        #expect(throws: GGUFError.self) { _ = try load(builder) }
    }

    /// The first column of every row of `t`, divided by 100 (the row number in the file, plus t·100).
    static func rowTags(_ t: Tensor) -> [Int] {
        (0..<t.shape[0]).map { Int(t.floats[$0 * t.shape[1]]) % 10_000 / 100 }
    }
}

// MARK: - Mapping and layout

extension GGUFLlamaCheckpointTests {
    @Test func readsTheHyperparameters() throws {
        let checkpoint = try Self.load(Self.builder())
        #expect(
            checkpoint.hyperparameters
                == LlamaHyperparameters(
                    layerCount: 2, hiddenSize: 8, intermediateSize: 12, headCount: 2, kvHeadCount: 1, headDim: 4,
                    ropeTheta: 100_000, rmsNormEps: 1e-5, vocabSize: 6, contextLength: 64, tiedEmbeddings: true))
    }

    @Test func mapsEveryNameToHuggingFace() throws {
        let checkpoint = try Self.load(Self.builder())
        let expected = GGUFLlamaCheckpoint.expectedShapes(checkpoint.hyperparameters)
        #expect(Set(checkpoint.weights.keys) == Set(expected.keys))
        #expect(checkpoint.weights.count == 1 + 9 * Self.layers + 1)
        #expect(checkpoint.weights["lm_head.weight"] == nil)
        for (name, shape) in expected {
            #expect(checkpoint.weights[name].map { Array($0.shape) } == shape, "\(name)")
        }
        // Values in place: layer 1's down_proj is tensor 1 + 9 + 9 = 19; row 3, column 5 → 19·10000 + 305.
        let down = try #require(checkpoint.weights["model.layers.1.mlp.down_proj.weight"])
        #expect(down.shape == [8, 12] && down.floats[3 * 12 + 5] == 190_305)
        let v = try #require(checkpoint.weights["model.layers.0.self_attn.v_proj.weight"])
        #expect(Self.rowTags(v) == [0, 1, 2, 3])  // v is not permuted
    }

    @Test func untiedCheckpointHasALanguageModelHead() throws {
        let checkpoint = try Self.load(Self.builder(tied: false))
        #expect(!checkpoint.hyperparameters.tiedEmbeddings)
        #expect(checkpoint.weights["lm_head.weight"]?.shape == [6, 8])
    }

    @Test func namesMapExactly() {
        let map = GGUFLlamaCheckpoint.huggingFaceName(forGGUFName:)
        #expect(map("token_embd.weight") == "model.embed_tokens.weight")
        #expect(map("output_norm.weight") == "model.norm.weight")
        #expect(map("output.weight") == "lm_head.weight")
        #expect(map("blk.12.attn_q.weight") == "model.layers.12.self_attn.q_proj.weight")
        #expect(map("blk.0.attn_k.weight") == "model.layers.0.self_attn.k_proj.weight")
        #expect(map("blk.0.attn_v.weight") == "model.layers.0.self_attn.v_proj.weight")
        #expect(map("blk.0.attn_output.weight") == "model.layers.0.self_attn.o_proj.weight")
        #expect(map("blk.3.ffn_gate.weight") == "model.layers.3.mlp.gate_proj.weight")
        #expect(map("blk.3.ffn_up.weight") == "model.layers.3.mlp.up_proj.weight")
        #expect(map("blk.3.ffn_down.weight") == "model.layers.3.mlp.down_proj.weight")
        #expect(map("blk.29.attn_norm.weight") == "model.layers.29.input_layernorm.weight")
        #expect(map("blk.29.ffn_norm.weight") == "model.layers.29.post_attention_layernorm.weight")
        for odd in ["rope_freqs.weight", "blk.0.attn_q.bias", "blk.x.attn_q.weight", "blk.01.attn_q.weight", "blk.0"] {
            #expect(map(odd) == nil, "\(odd)")
        }
    }
}

// MARK: - Rotary permutation

extension GGUFLlamaCheckpointTests {
    @Test func unpermutesQueryAndKeyRowsPerHead() throws {
        let checkpoint = try Self.load(Self.builder())
        // Hd = 4: Hugging Face row h·4 + j·2 + i is GGUF row h·4 + 2i + j, so the order is 0 2 1 3 per head.
        let q = try #require(checkpoint.weights["model.layers.0.self_attn.q_proj.weight"])
        #expect(Self.rowTags(q) == [0, 2, 1, 3, 4, 6, 5, 7])
        let k = try #require(checkpoint.weights["model.layers.1.self_attn.k_proj.weight"])
        #expect(Self.rowTags(k) == [0, 2, 1, 3])  // one KV head
        // Whole rows move: row 1 of q (tensor 3 of the file) is GGUF row 2, columns 0…7.
        let row1: [Float] = (0..<8).map { q.floats[8 + $0] }
        let ggufRow2: [Float] = (0..<8).map { Float(30_200 + $0) }
        #expect(row1 == ggufRow2)
    }

    @Test func unpermutationInvertsLlamaCppPermute() {
        // llama.cpp convert_hf_to_gguf.py: w.reshape(heads, 2, Hd/2, in).swapaxes(1, 2).reshape(w.shape)
        for (heads, headDim, columns) in [(3, 8, 5), (1, 64, 2), (9, 64, 3)] {
            let rows = heads * headDim
            let original = Tensor(shape: [rows, columns], values: (0..<(rows * columns)).map { Float($0) })
            let permuted = Tensor(zeros: [rows, columns])
            for h in 0..<heads {
                for j in 0..<2 {
                    for i in 0..<(headDim / 2) {
                        let hfRow = h * headDim + j * (headDim / 2) + i
                        let ggufRow = h * headDim + i * 2 + j
                        for c in 0..<columns {
                            permuted.floats[ggufRow * columns + c] = original.floats[hfRow * columns + c]
                        }
                    }
                }
            }
            let restored = GGUFLlamaCheckpoint.unpermuteRotaryRows(permuted, headCount: heads)
            #expect(restored.toArray() == original.toArray(), "heads \(heads), Hd \(headDim)")
        }
    }
}

// MARK: - Tokenizer and chat template

extension GGUFLlamaCheckpointTests {
    @Test func readsTheTokenizerMetadata() throws {
        let checkpoint = try Self.load(Self.builder())
        #expect(checkpoint.tokenizerVocabulary == ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a", "b", "ab"])
        #expect(checkpoint.tokenizerMerges == ["a b"])
        #expect(checkpoint.tokenizerModel == "gpt2" && checkpoint.tokenizerPreTokenizer == "smollm")
        #expect(checkpoint.bosTokenID == 1 && checkpoint.eosTokenIDs == [2] && checkpoint.padTokenID == 2)
        #expect(!checkpoint.addsBOSToken)
        let added = checkpoint.addedTokens
        #expect(added.map(\.id) == [0, 1, 2, 5])
        #expect(added.map(\.content) == ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "ab"])
        #expect(added.map(\.isSpecial) == [true, true, true, false])
    }

    @Test func endOfTurnTokensJoinTheEOSList() throws {
        var b = Self.builder()
        b.add("tokenizer.ggml.eot_token_id", .uint32(0))
        b.add("tokenizer.ggml.eom_token_id", .uint32(2))
        #expect(try Self.load(b).eosTokenIDs == [2, 0])
    }

    @Test func unsupportedPreTokenizerIsRefused() throws {
        var b = Self.builder()
        b.metadata.removeAll { $0.key == "tokenizer.ggml.pre" }
        b.add("tokenizer.ggml.pre", .string("qwen2"))
        let checkpoint = try Self.load(b)
        let error = #expect(throws: GGUFError.self) { _ = try checkpoint.makeTokenizer() }
        #expect(error?.code == .unsupportedTokenizer && error?.description.contains("'qwen2'") == true)
    }

    @Test func chatMLWithTheDefaultSystemMessage() throws {
        let checkpoint = try Self.load(Self.builder())
        let system =
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        #expect(
            try checkpoint.chatPrompt(messages: [("user", "Hi")], addGenerationPrompt: true)
                == system + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(
            try checkpoint.chatPrompt(messages: [("system", "Be brief."), ("user", "Hi")], addGenerationPrompt: false)
                == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
        #expect(try checkpoint.chatPrompt(messages: [], addGenerationPrompt: true) == "<|im_start|>assistant\n")
        #expect(
            try checkpoint.chatPrompt(
                messages: [("user", "a"), ("assistant", "b"), ("user", "c")], addGenerationPrompt: true)
                == system + "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n"
                + "<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func recognisesChatMLVariants() throws {
        let plain =
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
            + "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
            + "{% endif %}"
        #expect(try GGUFChatTemplate(recognizing: plain, path: "x") == .chatML(defaultSystemMessage: nil))
        #expect(try GGUFChatTemplate(recognizing: plain + "\n", path: "x") == .chatML(defaultSystemMessage: nil))
        #expect(
            try GGUFChatTemplate(recognizing: Self.smolLM2Template, path: "x")
                == .chatML(
                    defaultSystemMessage: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        #expect(
            GGUFChatTemplate.chatML(defaultSystemMessage: nil).render(
                messages: [("user", "Hi")], addGenerationPrompt: false)
                == "<|im_start|>user\nHi<|im_end|>\n")
    }

    @Test func unknownChatTemplatesAreRefused() throws {
        let templates = [
            "{{ bos_token }}{% for message in messages %}[INST] {{ message['content'] }} [/INST]{% endfor %}",
            Self.smolLM2Template.replacingOccurrences(of: "named SmolLM", with: "named {{ name }}"),
            Self.smolLM2Template.replacingOccurrences(of: "'<|im_start|>assistant\n'", with: "'<|im_start|>bot\n'"),
            "",
        ]
        for template in templates {
            var b = Self.builder()
            b.metadata.removeAll { $0.key == "tokenizer.chat_template" }
            b.add("tokenizer.chat_template", .string(template))
            let checkpoint = try Self.load(b)
            let error = #expect(throws: GGUFError.self) {
                _ = try checkpoint.chatPrompt(messages: [("user", "Hi")], addGenerationPrompt: true)
            }
            #expect(error?.code == .unsupportedChatTemplate, "\(template)")
            #expect(error?.description.contains("not a template Vigil knows") == true)
        }
    }
}

// MARK: - Errors

extension GGUFLlamaCheckpointTests {
    @Test func otherArchitecturesAreRefused() throws {
        var b = Self.builder()
        b.metadata[0] = ("general.architecture", .string("gemma3"))
        let error = try #require(Self.loadError(b))
        #expect(error.code == .unsupportedArchitecture)
        #expect(error.description.contains("'gemma3'") && error.description.contains("model.gguf"))
    }

    @Test func llamaVariantsAreRefused() throws {
        var scaled = Self.builder()
        scaled.add("llama.rope.scaling.type", .string("yarn"))
        #expect(Self.loadError(scaled)?.code == .unsupportedArchitecture)
        var experts = Self.builder()
        experts.add("llama.expert_count", .uint32(8))
        #expect(Self.loadError(experts)?.code == .unsupportedArchitecture)
        var partialRope = Self.builder()
        partialRope.metadata.removeAll { $0.key == "llama.rope.dimension_count" }
        partialRope.add("llama.rope.dimension_count", .uint32(2))
        #expect(Self.loadError(partialRope)?.code == .unsupportedArchitecture)
    }

    @Test func missingAndBadHyperparametersAreNamed() throws {
        var missing = Self.builder()
        missing.metadata.removeAll { $0.key == "llama.block_count" }
        let error = try #require(Self.loadError(missing))
        #expect(error.code == .missingKey && error.description.contains("'llama.block_count'"))

        var badHeads = Self.builder()
        badHeads.metadata.removeAll { $0.key == "llama.attention.head_count_kv" }
        badHeads.add("llama.attention.head_count_kv", .uint32(3))
        #expect(Self.loadError(badHeads)?.code == .invalidValue)

        var badToken = Self.builder()
        badToken.metadata.removeAll { $0.key == "tokenizer.ggml.eos_token_id" }
        badToken.add("tokenizer.ggml.eos_token_id", .uint32(6))
        #expect(Self.loadError(badToken)?.code == .invalidValue)
    }

    @Test func tensorProblemsAreReportedTogether() throws {
        var b = Self.builder()
        b.tensors.removeAll { $0.name == "blk.1.ffn_up.weight" }
        b.addF32("rope_freqs.weight", shape: [2], values: [1, 1])
        let index = try #require(b.tensors.firstIndex { $0.name == "blk.0.attn_v.weight" })
        b.tensors[index].dimensions = [8, 8]
        b.tensors[index].data = Array(repeating: 0, count: 256)
        let error = try #require(Self.loadError(b))
        #expect(error.code == .tensorMismatch)
        #expect(error.description.contains("missing model.layers.1.mlp.up_proj.weight"))
        #expect(error.description.contains("blk.0.attn_v.weight is [8, 8], expected [4, 8]"))
        #expect(error.description.contains("rope_freqs.weight"))
    }
}

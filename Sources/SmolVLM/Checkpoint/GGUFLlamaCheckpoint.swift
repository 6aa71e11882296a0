// A Llama (SmolLM2) checkpoint read from a GGUF file: f32 weights under Hugging Face names in PyTorch layout,
// hyper-parameters, tokenizer data and chat template. Ports what transformers does for `from_pretrained(…,
// gguf_file=…)` on a llama GGUF (modeling_gguf_pytorch_utils.py `load_gguf_checkpoint`, `LlamaTensorProcessor`).
//
// Names (GGUF → Hugging Face), N = layer index:
//   token_embd.weight        → model.embed_tokens.weight                  [V, D]
//   blk.N.attn_norm.weight   → model.layers.N.input_layernorm.weight      [D]
//   blk.N.attn_q.weight      → model.layers.N.self_attn.q_proj.weight     [H·Hd, D]    rows un-permuted
//   blk.N.attn_k.weight      → model.layers.N.self_attn.k_proj.weight     [Hkv·Hd, D]  rows un-permuted
//   blk.N.attn_v.weight      → model.layers.N.self_attn.v_proj.weight     [Hkv·Hd, D]
//   blk.N.attn_output.weight → model.layers.N.self_attn.o_proj.weight     [D, H·Hd]
//   blk.N.ffn_norm.weight    → model.layers.N.post_attention_layernorm.weight [D]
//   blk.N.ffn_gate.weight    → model.layers.N.mlp.gate_proj.weight        [I, D]
//   blk.N.ffn_up.weight      → model.layers.N.mlp.up_proj.weight          [I, D]
//   blk.N.ffn_down.weight    → model.layers.N.mlp.down_proj.weight        [D, I]
//   output_norm.weight       → model.norm.weight                          [D]
//   output.weight            → lm_head.weight                             [V, D]  (absent when tied)
//
// Layout: GGUF lists dimensions innermost first (ne[0] = `in` of a Linear weight); the bytes are already the
// row-major [out, in] matrix PyTorch uses, so only the shape is reversed.
//
// Rotary permutation: llama.cpp's convert_hf_to_gguf.py (`LlamaModel.permute`) reorders the rows of q_proj and
// k_proj so that its interleaved ("GPT-J") RoPE sees each head's rotate-half pairs (i, i + Hd/2) as neighbours:
// within head h, GGUF row h·Hd + 2i + j holds Hugging Face row h·Hd + j·Hd/2 + i (i < Hd/2, j ∈ {0, 1}).
// `unpermuteRotaryRows` inverts it exactly, per head, with the query head count for q and the KV head count for k
// (transformers `LlamaTensorProcessor._reverse_permute_weights`).

import Foundation
import Kernels

/// A Llama checkpoint loaded from a GGUF file, with weights under Hugging Face names.
public struct GGUFLlamaCheckpoint: Sendable {
    /// llama.cpp token types (`tokenizer.ggml.token_type`, llama.cpp `llama_token_type`).
    public enum TokenType: Int, Sendable {
        case undefined = 0
        case normal = 1
        case unknown = 2
        case control = 3
        case userDefined = 4
        case unused = 5
        case byte = 6
    }

    /// The file the checkpoint came from.
    public let url: URL
    /// The decoder's shape.
    public let hyperparameters: LlamaHyperparameters
    /// f32 weights in PyTorch layout, by Hugging Face name (no `lm_head.weight` when the embeddings are tied).
    public let weights: [String: Tensor]
    /// The tokens by id (`tokenizer.ggml.tokens`), in the byte-level alphabet of GPT-2's BPE.
    public let tokenizerVocabulary: [String]
    /// BPE merges in priority order, each "left right" (`tokenizer.ggml.merges`).
    public let tokenizerMerges: [String]
    /// The llama.cpp type of every token (`tokenizer.ggml.token_type`; all `.normal` when absent).
    public let tokenizerTokenTypes: [TokenType]
    /// The tokenizer family (`tokenizer.ggml.model`, "gpt2" for byte-level BPE).
    public let tokenizerModel: String
    /// llama.cpp's name for the pre-tokenizer (`tokenizer.ggml.pre`, "smollm" for SmolLM2), if given.
    public let tokenizerPreTokenizer: String?
    /// Beginning-of-sequence token (`tokenizer.ggml.bos_token_id`).
    public let bosTokenID: Int?
    /// Whether a prompt starts with the BOS token (`tokenizer.ggml.add_bos_token`; false when absent).
    public let addsBOSToken: Bool
    /// Tokens that end generation: eos, then end-of-turn and end-of-message ids when the file gives them.
    public let eosTokenIDs: [Int]
    /// Padding token (`tokenizer.ggml.padding_token_id`).
    public let padTokenID: Int?
    /// The Jinja chat template (`tokenizer.chat_template`), if any.
    public let chatTemplate: String?

    /// The architecture this loader reads.
    public static let architecture = "llama"

    /// Maps, checks and dequantises the Llama checkpoint in the GGUF file at `url`.
    public static func load(_ url: URL) throws -> GGUFLlamaCheckpoint {
        try GGUFLlamaCheckpoint(file: GGUFFile(contentsOf: url))
    }

    /// Maps, checks and dequantises the Llama checkpoint in `file`.
    public init(file: GGUFFile) throws {
        let path = file.url.path
        url = file.url
        let architecture = try file.requiredString("general.architecture")
        guard architecture == Self.architecture else {
            throw GGUFError(
                .unsupportedArchitecture, path: path,
                "the model's architecture is '\(architecture)' (general.architecture); Vigil loads "
                    + "'\(Self.architecture)' GGUF models (such as SmolLM2) only")
        }

        // Tokenizer.
        tokenizerModel = try file.requiredString("tokenizer.ggml.model")
        tokenizerPreTokenizer = try file.optionalString("tokenizer.ggml.pre")
        tokenizerVocabulary = try file.requiredStrings("tokenizer.ggml.tokens")
        tokenizerMerges = try file.optionalStrings("tokenizer.ggml.merges") ?? []
        let tokenCount = tokenizerVocabulary.count
        if let rawTypes = try file.optionalIntegers("tokenizer.ggml.token_type") {
            guard rawTypes.count == tokenCount else {
                throw GGUFError(
                    .invalidValue, path: path,
                    "tokenizer.ggml.token_type has \(rawTypes.count) entries for \(tokenCount) tokens; "
                        + "the file is damaged")
            }
            tokenizerTokenTypes = rawTypes.map { TokenType(rawValue: $0) ?? .undefined }
        } else {
            tokenizerTokenTypes = Array(repeating: .normal, count: tokenCount)
        }
        func tokenID(_ key: String) throws -> Int? {
            guard let id = try file.optionalInteger(key) else { return nil }
            guard id >= 0, id < tokenCount else {
                throw GGUFError(
                    .invalidValue, path: path,
                    "\(key) is \(id), outside the vocabulary of \(tokenCount) tokens; the file is damaged")
            }
            return id
        }
        bosTokenID = try tokenID("tokenizer.ggml.bos_token_id")
        addsBOSToken = try file.optionalBool("tokenizer.ggml.add_bos_token") ?? false
        padTokenID = try tokenID("tokenizer.ggml.padding_token_id")
        var eos: [Int] = []
        for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
            if let id = try tokenID(key), !eos.contains(id) { eos.append(id) }
        }
        eosTokenIDs = eos
        chatTemplate = try file.optionalString("tokenizer.chat_template")

        // Hyper-parameters, then the weights they imply.
        let hp = try LlamaHyperparameters(gguf: file, tokenCount: tokenCount)
        guard tokenCount <= hp.vocabSize else {
            throw GGUFError(
                .invalidValue, path: path,
                "the tokenizer has \(tokenCount) tokens but the model only \(hp.vocabSize) embedding rows; "
                    + "the file is damaged")
        }
        hyperparameters = hp
        weights = try Self.loadWeights(file, hp)
    }

    /// The prompt for `messages` in this model's chat format (its `tokenizer.chat_template`, recognised, not
    /// interpreted), ending with the assistant's header when `addGenerationPrompt` is set.
    public func chatPrompt(messages: [(role: String, content: String)], addGenerationPrompt: Bool) throws -> String {
        guard let chatTemplate else {
            throw GGUFError(
                .unsupportedChatTemplate, path: url.path,
                "the file has no tokenizer.chat_template; give the prompt already formatted")
        }
        return try GGUFChatTemplate(recognizing: chatTemplate, path: url.path)
            .render(messages: messages, addGenerationPrompt: addGenerationPrompt)
    }

    /// Tokens matched whole before BPE: control tokens (special) and user-defined tokens (not special), by id.
    public var addedTokens: [(id: Int, content: String, isSpecial: Bool)] {
        var result: [(id: Int, content: String, isSpecial: Bool)] = []
        for (id, type) in tokenizerTokenTypes.enumerated() where type == .control || type == .userDefined {
            result.append((id, tokenizerVocabulary[id], type == .control))
        }
        return result
    }

    // MARK: - Weights

    /// The Hugging Face name of a GGUF tensor of a Llama model, or nil for a name a plain Llama does not have.
    public static func huggingFaceName(forGGUFName name: String) -> String? {
        switch name {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        case "output.weight": return "lm_head.weight"
        default: break
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "blk", parts[3] == "weight", let layer = Int(parts[1]), layer >= 0,
            String(layer) == parts[1]
        else { return nil }
        let suffix: String
        switch parts[2] {
        case "attn_norm": suffix = "input_layernorm"
        case "attn_q": suffix = "self_attn.q_proj"
        case "attn_k": suffix = "self_attn.k_proj"
        case "attn_v": suffix = "self_attn.v_proj"
        case "attn_output": suffix = "self_attn.o_proj"
        case "ffn_norm": suffix = "post_attention_layernorm"
        case "ffn_gate": suffix = "mlp.gate_proj"
        case "ffn_up": suffix = "mlp.up_proj"
        case "ffn_down": suffix = "mlp.down_proj"
        default: return nil
        }
        return "model.layers.\(layer).\(suffix).weight"
    }

    /// Every weight a Llama with these hyper-parameters has, with its PyTorch shape.
    public static func expectedShapes(_ hp: LlamaHyperparameters) -> [String: [Int]] {
        let (d, i, v) = (hp.hiddenSize, hp.intermediateSize, hp.vocabSize)
        let (q, kv) = (hp.headCount * hp.headDim, hp.kvHeadCount * hp.headDim)
        var shapes: [String: [Int]] = ["model.embed_tokens.weight": [v, d], "model.norm.weight": [d]]
        if !hp.tiedEmbeddings { shapes["lm_head.weight"] = [v, d] }
        for n in 0..<hp.layerCount {
            let p = "model.layers.\(n)."
            shapes[p + "input_layernorm.weight"] = [d]
            shapes[p + "post_attention_layernorm.weight"] = [d]
            shapes[p + "self_attn.q_proj.weight"] = [q, d]
            shapes[p + "self_attn.k_proj.weight"] = [kv, d]
            shapes[p + "self_attn.v_proj.weight"] = [kv, d]
            shapes[p + "self_attn.o_proj.weight"] = [d, q]
            shapes[p + "mlp.gate_proj.weight"] = [i, d]
            shapes[p + "mlp.up_proj.weight"] = [i, d]
            shapes[p + "mlp.down_proj.weight"] = [d, i]
        }
        return shapes
    }

    /// Undoes llama.cpp's rotary row permutation of a q or k weight `w: [heads·Hd, in]` (see the file header):
    /// returns a new tensor whose row h·Hd + j·Hd/2 + i is `w`'s row h·Hd + 2i + j.
    public static func unpermuteRotaryRows(_ w: Tensor, headCount: Int) -> Tensor {
        precondition(w.dtype == .f32 && w.shape.count == 2, "unpermuteRotaryRows takes an f32 matrix")
        let (rows, columns) = (w.shape[0], w.shape[1])
        precondition(headCount > 0 && rows % (2 * headCount) == 0, "\(rows) rows do not split into \(headCount) heads")
        let headDim = rows / headCount
        let half = headDim / 2
        let result = Tensor(zeros: w.shape)
        let src = w.floats
        let dst = result.floats
        for h in 0..<headCount {
            for i in 0..<half {
                for j in 0..<2 {
                    let from = h * headDim + 2 * i + j
                    let to = h * headDim + j * half + i
                    (dst + to * columns).update(from: src + from * columns, count: columns)
                }
            }
        }
        return result
    }

    /// Checks the tensor table against the hyper-parameters (reporting every problem at once), then dequantises
    /// every tensor and un-permutes q and k.
    private static func loadWeights(_ file: GGUFFile, _ hp: LlamaHyperparameters) throws -> [String: Tensor] {
        let expected = expectedShapes(hp)
        var unexpected: [String] = []
        var misshaped: [String] = []
        var present: [(info: GGUFTensorInfo, name: String)] = []
        for info in file.tensors {
            guard let name = huggingFaceName(forGGUFName: info.name), let shape = expected[name] else {
                unexpected.append(info.name)
                continue
            }
            if info.shape != shape {
                misshaped.append("\(info.name) is \(info.shape), expected \(shape)")
            }
            present.append((info, name))
        }
        let found = Set(present.map(\.name))
        let missing = expected.keys.filter { !found.contains($0) }.sorted(by: layerOrder)
        if !unexpected.isEmpty || !misshaped.isEmpty || !missing.isEmpty {
            var problems: [String] = []
            if !missing.isEmpty { problems.append("missing \(summary(missing))") }
            if !misshaped.isEmpty { problems.append("wrong shape: \(summary(misshaped))") }
            if !unexpected.isEmpty {
                problems.append("tensors a plain llama model does not have: \(summary(unexpected))")
            }
            throw GGUFError(
                .tensorMismatch, path: file.url.path,
                "the tensors do not match a llama model with \(hp.layerCount) layers, width \(hp.hiddenSize), "
                    + "\(hp.headCount)/\(hp.kvHeadCount) heads of \(hp.headDim): "
                    + problems.joined(separator: "; ")
                    + "; the file is damaged or a llama variant Vigil does not support")
        }

        // Dequantise on every core: the tensors are independent, and each task writes only its own slot.
        let work = present
        let slots = TensorSlots(count: work.count)
        DispatchQueue.concurrentPerform(iterations: work.count) { index in
            let (info, name) = work[index]
            slots.store(index) {
                var tensor = try file.loadTensor(info)
                if name.hasSuffix("self_attn.q_proj.weight") {
                    tensor = unpermuteRotaryRows(tensor, headCount: hp.headCount)
                } else if name.hasSuffix("self_attn.k_proj.weight") {
                    tensor = unpermuteRotaryRows(tensor, headCount: hp.kvHeadCount)
                }
                return tensor
            }
        }
        var weights: [String: Tensor] = [:]
        for (index, (_, name)) in present.enumerated() {
            weights[name] = try slots.result(index)
        }
        return weights
    }

    /// The first few items of a list, and how many more there are.
    private static func summary(_ items: [String]) -> String {
        let shown = items.prefix(6).joined(separator: ", ")
        return items.count > 6 ? "\(shown) and \(items.count - 6) more" : shown
    }

    /// Orders names so that `layers.2` comes before `layers.10`.
    private static func layerOrder(_ a: String, _ b: String) -> Bool {
        a.compare(b, options: .numeric) == .orderedAscending
    }
}

/// Results of a `concurrentPerform`, one slot per iteration; each slot is written by exactly one iteration and
/// read only after all have finished.
private final class TensorSlots: @unchecked Sendable {
    private let results: UnsafeMutablePointer<Result<Tensor, Error>?>
    private let count: Int

    init(count: Int) {
        self.count = count
        results = .allocate(capacity: max(count, 1))
        results.initialize(repeating: nil, count: count)
    }

    deinit {
        results.deinitialize(count: count)
        results.deallocate()
    }

    /// Runs `make` and stores its tensor or error in slot `index`.
    func store(_ index: Int, _ make: () throws -> Tensor) {
        results[index] = Result(catching: make)
    }

    /// The tensor of slot `index`, or the error that slot's work threw.
    func result(_ index: Int) throws -> Tensor {
        try results[index]!.get()
    }
}

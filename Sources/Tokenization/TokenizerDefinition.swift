// Reads and validates a Hugging Face `tokenizer.json` into the parts `Tokenizer` is built from.
//
// Supported (anything else throws `TokenizerError.Code.unsupportedConfiguration`, naming the key):
//   version            "1.0"
//   truncation/padding null
//   normalizer         null
//   pre_tokenizer      ByteLevel, or Sequence[Digits?, ByteLevel] — ByteLevel with add_prefix_space false
//   model              BPE: vocab, merges ("a b" strings or ["a", "b"] pairs), unk_token, fuse_unk, ignore_merges;
//                      dropout null, byte_fallback false, no continuing_subword_prefix / end_of_word_suffix
//   added_tokens       id, content, special, normalized, lstrip, rstrip, single_word
//   post_processor     null, ByteLevel (which only trims offsets) or a TemplateProcessing of just "$A" (adds no ids)
//   decoder            ByteLevel
// Added-token ids follow tokenizers' `AddedVocabulary::add_tokens`: the vocabulary id when the content is in the
// vocabulary, otherwise the next id from the vocabulary size. tokenizers ignores the file's `id` (it only warns);
// here a file whose ids disagree with that rule is rejected (in `Tokenizer.init`), since a model would read the
// wrong embeddings.

import Foundation

/// Everything a `Tokenizer` is built from, whatever the source format.
struct TokenizerDefinition {
    /// Names the source in error messages ("tokenizer.json at /path", "GGUF tokenizer metadata").
    var source: String
    /// The BPE vocabulary: token string (byte-level form) and id.
    var vocabulary: [(String, Int)]
    /// The merges, in rank order.
    var merges: [(String, String)]
    /// Added tokens in the order they are added (for tokenizer.json, the order of `added_tokens`).
    var addedTokens: [AddedToken]
    /// Whether `addedTokens` carry their final ids, or ids that must equal the ones tokenizers assigns.
    var addedTokenIDs: AddedTokenIDs

    /// Where added-token ids come from.
    enum AddedTokenIDs {
        /// The ids are final (GGUF metadata).
        case given
        /// tokenizer.json: tokenizers ignores the file's ids and assigns its own (`AddedVocabulary::add_tokens`:
        /// the vocabulary id when the content is in the vocabulary, else the next id from the vocabulary size);
        /// a file whose ids differ is rejected.
        case checkedAgainstTokenizers
    }
    /// `model.unk_token`.
    var unknownToken: String?
    /// `model.fuse_unk`.
    var fusesUnknown: Bool
    /// `model.ignore_merges`.
    var ignoresMerges: Bool
    var preTokenizer: PreTokenizer

    /// Reads and validates `url`.
    static func load(contentsOf url: URL) throws -> TokenizerDefinition {
        let source = "tokenizer.json at \(url.path)"
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError(
                .unreadableFile, "\(source): cannot read the file; check the path and permissions.", underlying: error)
        }
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: escapingByteOrderMarks(data))
        } catch {
            throw TokenizerError(
                .malformedFile, "\(source): not valid JSON; the file is damaged or not a tokenizer.json.",
                underlying: error)
        }
        return try JSONFields(source: source).parse(root)
    }
}

/// `data` with every U+FEFF inside it written as the JSON escape `\ufeff`, and a leading byte order mark dropped.
///
/// Foundation's JSONSerialization (swift-corelibs-foundation) silently drops a raw U+FEFF at the start of a string
/// value, which would change a token such as "\u{FEFF}abc"; the escaped form survives. U+FEFF can only occur
/// inside strings in JSON, so the rewrite never changes the document's meaning.
func escapingByteOrderMarks(_ data: Data) -> Data {
    let bytes = [UInt8](data)
    let start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    var escaped: [UInt8] = []
    var copied = start  // bytes before this index are already in `escaped`
    var index = start
    while index + 2 < bytes.count {
        if bytes[index] == 0xEF && bytes[index + 1] == 0xBB && bytes[index + 2] == 0xBF {
            escaped += bytes[copied..<index]
            escaped += Array("\\ufeff".utf8)
            index += 3
            copied = index
        } else {
            index += 1
        }
    }
    if copied == start { return start == 0 ? data : Data(bytes[start...]) }
    escaped += bytes[copied...]
    return Data(escaped)
}

/// Typed access to the JSON tree with errors that name the file and the key path.
private struct JSONFields {
    let source: String

    func parse(_ root: Any) throws -> TokenizerDefinition {
        let top = try object(root, "(top level)")
        if let version = top["version"], !(version is NSNull) {
            guard let text = version as? String, text == "1.0" else {
                throw unsupported("version", "is \(describe(version)); only tokenizer.json version \"1.0\" is known")
            }
        }
        for key in ["truncation", "padding", "normalizer"] where !isNull(top[key]) {
            throw unsupported(key, "is set (\(describe(top[key]))); only null is supported")
        }
        try checkPostProcessor(top["post_processor"])
        try checkDecoder(top["decoder"])
        let preTokenizer = try parsePreTokenizer(top["pre_tokenizer"])

        guard let modelValue = top["model"] else { throw malformed("model", "is missing") }
        let model = try object(modelValue, "model")
        if let type = model["type"], !isNull(type) {
            guard let name = type as? String, name == "BPE" else {
                throw unsupported("model.type", "is \(describe(type)); only byte-level \"BPE\" models are supported")
            }
        }
        if let dropout = model["dropout"], !isNull(dropout) {
            guard let value = dropout as? Double, value == 0 else {
                throw unsupported(
                    "model.dropout", "is \(describe(dropout)); BPE dropout (random merges) is not supported")
            }
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = model[key], !isNull(value), (value as? String) != "" {
                throw unsupported("model.\(key)", "is \(describe(value)); only null is supported (byte-level BPE)")
            }
        }
        if try bool(model["byte_fallback"], "model.byte_fallback", default: false) {
            throw unsupported("model.byte_fallback", "is true; byte fallback (<0xNN> tokens) is not supported")
        }
        let fusesUnknown = try bool(model["fuse_unk"], "model.fuse_unk", default: false)
        let ignoresMerges = try bool(model["ignore_merges"], "model.ignore_merges", default: false)
        var unknownToken: String?
        if let unknown = model["unk_token"], !isNull(unknown) {
            unknownToken = try string(unknown, "model.unk_token")
        }

        guard let vocabValue = model["vocab"] else { throw malformed("model.vocab", "is missing") }
        let vocab = try object(vocabValue, "model.vocab")
        var vocabulary: [(String, Int)] = []
        vocabulary.reserveCapacity(vocab.count)
        for (token, idValue) in vocab {
            vocabulary.append((token, try integer(idValue, "model.vocab[\"\(token)\"]")))
        }
        vocabulary.sort { $0.1 < $1.1 }

        guard let mergesValue = model["merges"] else { throw malformed("model.merges", "is missing") }
        let merges = try parseMerges(try array(mergesValue, "model.merges"))

        let addedTokens = try parseAddedTokens(top["added_tokens"])
        return TokenizerDefinition(
            source: source, vocabulary: vocabulary, merges: merges, addedTokens: addedTokens,
            addedTokenIDs: .checkedAgainstTokenizers, unknownToken: unknownToken, fusesUnknown: fusesUnknown,
            ignoresMerges: ignoresMerges, preTokenizer: preTokenizer)
    }

    // MARK: Sections

    private func parseMerges(_ items: [Any]) throws -> [(String, String)] {
        var merges: [(String, String)] = []
        merges.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            let key = "model.merges[\(index)]"
            if let line = item as? String {
                // The legacy "a b" form; tokenizers skips "#version" lines (from merges.txt files).
                if line.hasPrefix("#version") { continue }
                let parts = splitMerge(line)
                guard parts.count == 2 else {
                    throw malformed(key, "is \(describe(line)), not two tokens separated by one space")
                }
                merges.append((parts[0], parts[1]))
            } else if let pair = item as? [Any], pair.count == 2 {
                merges.append((try string(pair[0], key + "[0]"), try string(pair[1], key + "[1]")))
            } else {
                throw malformed(key, "is \(describe(item)); a merge is \"a b\" or [\"a\", \"b\"]")
            }
        }
        return merges
    }

    /// The added tokens with the ids the file gives them (checked when the tokenizer is built).
    private func parseAddedTokens(_ value: Any?) throws -> [AddedToken] {
        guard let value, !isNull(value) else { return [] }
        var tokens: [AddedToken] = []
        for (index, item) in try array(value, "added_tokens").enumerated() {
            let key = "added_tokens[\(index)]"
            let fields = try object(item, key)
            guard let contentValue = fields["content"] else { throw malformed(key + ".content", "is missing") }
            guard let idValue = fields["id"] else { throw malformed(key + ".id", "is missing") }
            tokens.append(
                AddedToken(
                    id: try integer(idValue, key + ".id"), content: try string(contentValue, key + ".content"),
                    isSpecial: try bool(fields["special"], key + ".special", default: false),
                    isNormalized: try bool(fields["normalized"], key + ".normalized", default: true),
                    stripsLeft: try bool(fields["lstrip"], key + ".lstrip", default: false),
                    stripsRight: try bool(fields["rstrip"], key + ".rstrip", default: false),
                    isSingleWord: try bool(fields["single_word"], key + ".single_word", default: false)))
        }
        return tokens
    }

    private func parsePreTokenizer(_ value: Any?) throws -> PreTokenizer {
        guard let value, !isNull(value) else {
            throw unsupported("pre_tokenizer", "is null; a byte-level BPE tokenizer needs the ByteLevel pre-tokenizer")
        }
        let fields = try object(value, "pre_tokenizer")
        let type = try typeName(fields, "pre_tokenizer")
        var steps: [([String: Any], String)] = []
        if type == "Sequence" {
            guard let list = fields["pretokenizers"] else {
                throw malformed("pre_tokenizer.pretokenizers", "is missing")
            }
            for (index, step) in try array(list, "pre_tokenizer.pretokenizers").enumerated() {
                let key = "pre_tokenizer.pretokenizers[\(index)]"
                steps.append((try object(step, key), key))
            }
        } else {
            steps = [(fields, "pre_tokenizer")]
        }
        var digits: PreTokenizer.DigitSplit?
        var byteLevel: Bool?
        for (step, key) in steps {
            let stepType = try typeName(step, key)
            switch stepType {
            case "Digits" where byteLevel == nil && digits == nil:
                let individual = try bool(step["individual_digits"], key + ".individual_digits", default: false)
                digits = individual ? .individual : .contiguous
            case "ByteLevel" where byteLevel == nil:
                if try bool(step["add_prefix_space"], key + ".add_prefix_space", default: true) {
                    throw unsupported(
                        key + ".add_prefix_space", "is true (or missing, which means true); only false is supported")
                }
                byteLevel = try bool(step["use_regex"], key + ".use_regex", default: true)
            default:
                throw unsupported(
                    key + ".type",
                    "is \"\(stepType)\" here; supported pre-tokenizers are ByteLevel, optionally after one Digits")
            }
        }
        guard let usesRegex = byteLevel else {
            throw unsupported("pre_tokenizer", "has no ByteLevel step; only byte-level BPE tokenizers are supported")
        }
        return PreTokenizer(digits: digits, usesRegex: usesRegex)
    }

    private func checkPostProcessor(_ value: Any?) throws {
        guard let value, !isNull(value) else { return }
        let post = try object(value, "post_processor")
        let type = try typeName(post, "post_processor")
        // transformers 5.x re-saves tokenizers with a TemplateProcessing whose single-sequence template is just the
        // sequence ("$A"): it adds no tokens, exactly like null.
        if type == "TemplateProcessing", let single = post["single"] as? [Any],
            single.allSatisfy({ ($0 as? [String: Any])?["Sequence"] != nil })
        {
            return
        }
        guard type == "ByteLevel" else {
            throw unsupported(
                "post_processor.type",
                "is \"\(type)\"; only null, ByteLevel or a TemplateProcessing that adds no tokens is supported")
        }
    }

    private func checkDecoder(_ value: Any?) throws {
        guard let value, !isNull(value) else {
            throw unsupported("decoder", "is null; only the ByteLevel decoder is supported")
        }
        let type = try typeName(try object(value, "decoder"), "decoder")
        guard type == "ByteLevel" else {
            throw unsupported("decoder.type", "is \"\(type)\"; only the ByteLevel decoder is supported")
        }
    }

    // MARK: Typed access

    private func isNull(_ value: Any?) -> Bool { value == nil || value is NSNull }

    private func typeName(_ fields: [String: Any], _ key: String) throws -> String {
        guard let type = fields["type"] else { throw malformed(key + ".type", "is missing") }
        return try string(type, key + ".type")
    }

    private func object(_ value: Any, _ key: String) throws -> [String: Any] {
        guard let object = value as? [String: Any] else { throw malformed(key, "is \(describe(value)), not an object") }
        return object
    }

    private func array(_ value: Any, _ key: String) throws -> [Any] {
        guard let array = value as? [Any] else { throw malformed(key, "is \(describe(value)), not an array") }
        return array
    }

    private func string(_ value: Any, _ key: String) throws -> String {
        guard let string = value as? String else { throw malformed(key, "is \(describe(value)), not a string") }
        return string
    }

    private func integer(_ value: Any, _ key: String) throws -> Int {
        guard let number = value as? NSNumber, let integer = Int(exactly: number.doubleValue) else {
            throw malformed(key, "is \(describe(value)), not an integer")
        }
        return integer
    }

    private func bool(_ value: Any?, _ key: String, default defaultValue: Bool) throws -> Bool {
        guard let value, !isNull(value) else { return defaultValue }
        guard let flag = value as? Bool else { throw malformed(key, "is \(describe(value)), not true or false") }
        return flag
    }

    private func describe(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: return "null"
        case let text as String: return "\"\(text.count > 40 ? text.prefix(40) + "…" : text)\""
        case let object as [String: Any]:
            if let type = object["type"] as? String { return "an object of type \"\(type)\"" }
            return "an object"
        case is [Any]: return "an array"
        case let value?: return "\(value)"
        }
    }

    private func malformed(_ key: String, _ problem: String) -> TokenizerError {
        TokenizerError(
            .malformedFile, "\(source): key `\(key)` \(problem). The file is damaged or not a tokenizer.json.")
    }

    private func unsupported(_ key: String, _ problem: String) -> TokenizerError {
        TokenizerError(
            .unsupportedConfiguration,
            "\(source): key `\(key)` \(problem). Vigil's tokenizer handles byte-level BPE (GPT-2 / SmolLM2 style) "
                + "only.")
    }
}

// The bytes each token id stands for under the ByteLevel decoder, and which ids are special.
//
// Port of the per-token half of `decode_chain` in tokenizers/src/pre_tokenizers/byte_level.rs: a token's characters
// are mapped back to bytes, or, if any character is not a ByteLevel character, the token's own UTF-8 is used.
// Special ids follow `Tokenizer::decode`, which skips a token when its string is a special added token's content.

/// The bytes each token id decodes to, and which ids are special.
final class TokenBytes: Sendable {
    /// All tokens' bytes, concatenated in id order.
    private let storage: [UInt8]
    /// Start of each id's bytes in `storage`, plus the end; a missing id has an empty range.
    private let offsets: [Int32]
    /// Whether each id is skipped by `skipSpecialTokens` (its token string is a special added token's content).
    private let special: [Bool]
    /// Whether each id exists (in the vocabulary or as an added token).
    private let present: [Bool]

    /// A table for `tokens` (indexed by id; nil where no token has that id) with the given special ids.
    init(tokens: [String?], specialIDs: Set<Int>) {
        var storage: [UInt8] = []
        var offsets: [Int32] = [0]
        var special: [Bool] = []
        var present: [Bool] = []
        for (id, token) in tokens.enumerated() {
            if let token {
                storage += ByteLevel.decodedBytes(of: token)
                special.append(specialIDs.contains(id))
                present.append(true)
            } else {
                special.append(false)
                present.append(false)
            }
            offsets.append(Int32(storage.count))
        }
        self.storage = storage
        self.offsets = offsets
        self.special = special
        self.present = present
    }

    /// Calls `body` with the bytes of `id`; does nothing for unknown ids, and for special ones when `skipSpecial`.
    @inline(__always) func withBytes(of id: Int, skipSpecial: Bool, _ body: (ArraySlice<UInt8>) -> Void) {
        guard id >= 0, id < present.count, present[id], !(skipSpecial && special[id]) else { return }
        body(storage[Int(offsets[id])..<Int(offsets[id + 1])])
    }

    /// Whether `id` is a special token.
    func isSpecial(_ id: Int) -> Bool { id >= 0 && id < special.count && special[id] }
}

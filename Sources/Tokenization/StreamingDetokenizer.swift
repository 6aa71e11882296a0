// Token ids -> text one id at a time, never emitting broken UTF-8.
//
// Built on the ByteLevel decoder's two halves: `TokenBytes` (the bytes of each token) and `UTF8Repairer` (Rust's
// `String::from_utf8_lossy`, made incremental). Feeding the bytes token by token therefore yields exactly the batch
// decode, split into chunks that are always whole characters.

/// Turns token ids into text one id at a time, emitting only whole characters.
///
/// The concatenation of everything `append(_:)` and `finish()` return equals `Tokenizer.decode` of all the ids.
/// Bytes of a character split across tokens are held until the character is complete; an ill-formed byte sequence
/// becomes U+FFFD as soon as it is known to be ill-formed, and a sequence still incomplete at the end becomes U+FFFD
/// in `finish()`.
public struct StreamingDetokenizer: Sendable {
    private let table: TokenBytes
    private let skipsSpecialTokens: Bool
    private var repairer = UTF8Repairer()
    private var output: [UInt8] = []

    init(table: TokenBytes, skipsSpecialTokens: Bool) {
        self.table = table
        self.skipsSpecialTokens = skipsSpecialTokens
    }

    /// Whether bytes of an incomplete character are being held back.
    public var hasPendingBytes: Bool { !repairer.pending.isEmpty }

    /// Adds one token id and returns the text it completes (possibly empty).
    public mutating func append(_ id: Int) -> String {
        output.removeAll(keepingCapacity: true)
        table.withBytes(of: id, skipSpecial: skipsSpecialTokens) { bytes in repairer.feed(bytes, into: &output) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Ends the stream: returns U+FFFD if an incomplete character was held back, otherwise "". The detokenizer can
    /// then be reused for a new stream.
    public mutating func finish() -> String {
        output.removeAll(keepingCapacity: true)
        repairer.finish(into: &output)
        return String(decoding: output, as: UTF8.self)
    }
}

// Bounds on the sizes a model's files may declare (config.json, GGUF metadata). They are far above any model Vigil
// runs (SmolVLM2: width 576–960, 30–32 layers, 49k tokens, 8k positions) and low enough that sizes multiplied
// together never overflow and that nothing is allocated from a size a damaged or hostile file claims: a config over
// a bound is an error naming the key, and tensors are checked against the weight file before any is built.

/// The largest sizes a model configuration may declare.
public enum ModelLimits {
    /// Largest width, MLP width, head count or head dimension (2^20).
    public static let maxDimension = 1 << 20
    /// Most layers of the decoder or of the vision tower.
    public static let maxLayers = 4096
    /// Largest vocabulary (the tokenizer's id bound, 2^24).
    public static let maxVocabulary = 1 << 24
    /// Most positions (`max_position_embeddings`, `context_length`).
    public static let maxPositions = 1 << 20
    /// Largest RoPE table the decoder builds at load, in floats (positions × head dimension; 2^26 = 256 MiB).
    public static let maxRoPETableFloats = 1 << 26
    /// Largest vision input side in pixels (`image_size`) and largest pixel-shuffle factor.
    public static let maxImageSide = 16384
    public static let maxScaleFactor = 64

    /// "is 5000, more than the 4096 Vigil accepts" when `value` exceeds `limit`, else nil.
    static func excess(_ value: Int, limit: Int) -> String? {
        value > limit ? "is \(value), more than the \(limit) Vigil accepts" : nil
    }
}

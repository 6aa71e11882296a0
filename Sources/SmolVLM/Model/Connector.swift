// SmolVLM connector (port of transformers `SmolVLMConnector`): pixel shuffle then a bias-free projection.
// Reads scale_factor, vision_config.hidden_size, text_config.hidden_size.
//
//   vision output [P, Dv] (a G×G grid) → shuffle by s → [P/s², s²·Dv] → · Wᵀ → [P/s², D]
// Pixel shuffle folds each s×s neighbourhood of patches into one token's channels: output token (h', w') holds
// patch (s·h' + dh, s·w' + dw) at channel offset (dh·s + dw)·Dv.

import Kernels

/// The connector's weights.
public struct Connector: Sendable {
    public let scaleFactor: Int
    /// [D, s²·Dv], no bias.
    public let projection: Linear

    init(scaleFactor: Int, projection: Linear) {
        self.scaleFactor = scaleFactor
        self.projection = projection
    }

    init(config: SmolVLMConfig, weights w: CheckedWeights, prefix: String) {
        scaleFactor = config.scaleFactor
        let s2 = config.scaleFactor * config.scaleFactor
        projection = w.linear(
            prefix + ".modality_projection.proj", out: config.textConfig.hiddenSize,
            in: config.visionConfig.hiddenSize * s2, bias: false)
    }

    /// vision [P, Dv] → `shuffled` [P/s², s²·Dv] → `out` [P/s², D].
    public func project(
        _ vision: Tensor, shuffled: Tensor, into out: Tensor, context: ComputeContext, trace: TraceSink? = nil
    ) {
        Ops.pixelShuffle(vision, scale: scaleFactor, into: shuffled)
        trace?("connector.pixel_shuffle", shuffled)
        context.linear(shuffled, projection, into: out)
        trace?("connector.output", out)
    }
}

// Optional observation of intermediate tensors, by the names the golden fixtures use ("vision.layer.3",
// "text.layer.0", …). Parity tests and `--dump` debugging pass a sink; inference passes nil and pays nothing.

import Kernels

/// Receives named intermediate tensors during a forward pass. The tensor is only valid during the call.
public typealias TraceSink = (_ name: String, _ value: Tensor) -> Void

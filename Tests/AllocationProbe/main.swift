// Allocation probe (test-only executable): runs steady-state vision frames and decode steps with every
// malloc/calloc/realloc/memalign in the process counted (CMallocCounter interposes them), and prints the counts
// as one JSON object. `AllocationTests` runs it and requires zero.
//
// Usage: AllocationProbe <model folder> <precision> [threads]
//        AllocationProbe live <model folder> <precision> [frames]     the live loop's per-chunk steps (LiveProbe.swift)

import CMallocCounter
import Foundation
import Kernels
import SmolVLM

let arguments = CommandLine.arguments
if arguments.count >= 2 && arguments[1] == "live" {
    runLiveProbe(Array(arguments.dropFirst(2)))
    exit(0)
}
guard arguments.count >= 3, let precision = Precision(rawValue: arguments[2]) else {
    FileHandle.standardError.write("usage: AllocationProbe <model folder> fp32|bf16|int8|auto [threads]\n".data(using: .utf8)!)
    exit(64)
}
setComputeThreads(arguments.count > 3 ? Int(arguments[3]) ?? 2 : 2)
let model = try SmolVLMModel.load(from: URL(fileURLWithPath: arguments[1])).prepared(for: precision)
let context = ComputeContext()
let encoder = FrameEncoder(model: model)
let v = model.config.visionConfig
let d = model.config.textConfig.hiddenSize
let frames = (0..<6).map { Tensor.random([1, v.numChannels, v.imageSize, v.imageSize], seed: UInt64($0 + 1), scale: 1) }
let features = Tensor(zeros: [model.tokensPerFrame, d])
let generator = TextGenerator(decoder: model.decoder, capacity: 256, context: context)
let prompt = Tensor.random([16, d], seed: 99, scale: 1)
let token = Tensor.random([1, d], seed: 7, scale: 1)

// Warm-up: the first frame and the first steps create primitives, scratch and thread teams.
for f in 0..<2 { encoder.encode(frames[f], into: features, context: context) }
_ = generator.step(prompt)
for _ in 0..<3 { _ = generator.step(token) }


let vision = measure { for f in 2..<6 { encoder.encode(frames[f], into: features, context: context) } }
let decode = measure { for _ in 0..<32 { _ = generator.step(token) } }
print(
    "{\"precision\":\"\(precision.rawValue)\",\"vision_frames\":4,\"vision_allocations\":\(vision.own),"
        + "\"vision_onednn_allocations\":\(vision.library),\"vision_heap_delta\":\(vision.heapDelta),"
        + "\"decode_steps\":32,\"decode_allocations\":\(decode.own),"
        + "\"decode_onednn_allocations\":\(decode.library),\"decode_heap_delta\":\(decode.heapDelta)}")

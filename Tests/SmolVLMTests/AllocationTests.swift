// Steady-state inference allocates nothing: the allocation probe (Tests/AllocationProbe, with every malloc of its
// process interposed and counted) encodes frames and decodes tokens after a warm-up, and reports what it saw.
// Vigil's own code must make zero allocations per frame and per token, in every precision; the fused decode step
// (bf16 / int8 / auto) must make none at all; and the heap must not grow. oneDNN (vision and prefill matmuls, and
// every fp32 matmul) runs with a user-managed scratchpad (ComputeContext), yet still allocates small transient
// buffers inside each primitive execution (its argument map), which its C API offers no
// way to avoid; those are counted apart and must net to zero bytes.

import Foundation
import Testing
import TestSupport

@Suite(.serialized, .holdingSerialLock) struct AllocationTests {
    struct Report: Decodable {
        let vision_allocations, vision_onednn_allocations, vision_heap_delta: Int
        let decode_allocations, decode_onednn_allocations, decode_heap_delta: Int
    }

    static var probe: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("AllocationProbe")
    }

    static func run(_ precision: String) throws -> Report {
        let process = Process()
        process.executableURL = probe
        process.arguments = [Fixtures.url("smolvlm/tiny").path, precision, "2"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return try JSONDecoder().decode(Report.self, from: data)
    }

    @Test(arguments: ["fp32", "bf16", "int8", "auto"])
    func steadyStateVisionAndDecodeDoNotAllocate(precision: String) throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.probe.path), "missing \(Self.probe.path)")
        let r = try Self.run(precision)
        #expect(r.vision_allocations == 0)
        #expect(r.decode_allocations == 0)
        #expect(r.vision_heap_delta == 0 && r.decode_heap_delta == 0)
        if precision != "fp32" {
            #expect(r.decode_onednn_allocations == 0, "the fused decode step does not call oneDNN")
        }
    }

    struct LiveReport: Decodable {
        let frames, chunk_allocations, chunk_onednn_allocations, chunk_heap_delta, evicted, stored, thinned, problems: Int
        let composed_chunk_ids: Bool
    }

    /// The live loop: after warm-up, encoding a frame (vision + STC-Cacher, pruner) and committing it (eviction into
    /// the retrieval store, thinning, re-positioning, prefill) allocates nothing of Vigil's own, and the heap does
    /// not grow over 300 chunks.
    @Test(arguments: ["fp32", "int8"])
    func liveLoopChunksDoNotAllocate(precision: String) throws {
        let process = Process()
        process.executableURL = Self.probe
        process.arguments = ["live", Fixtures.url("smolvlm/tiny").path, precision, "300"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let r = try JSONDecoder().decode(LiveReport.self, from: data)
        #expect(r.chunk_allocations == 0)
        #expect(r.chunk_heap_delta == 0)
        #expect(r.composed_chunk_ids)
        #expect(r.evicted > 300 && r.thinned > 0 && r.problems == 0, "the steady state evicts, stores and thins")
    }
}

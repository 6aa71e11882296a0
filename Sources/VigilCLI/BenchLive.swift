// `vigil bench --live SOURCE`: a live session replaying SOURCE in real time (the file at its own pace), measured the
// way the streaming issue's acceptance asks: sustained processed fps, per-frame lag (arrival → chunk in the cache)
// p50/p95, drops by reason, vision FLOPs and wall time per frame with the cacher against the plain tower (timed
// afterwards on the same thread, `--baseline-frames`), tokens kept by the pruner, the TTFT of scripted questions,
// KV tokens and RSS sampled over the run. `--json` prints one object.

import Foundation
import Kernels
import Memory
import SmolVLM
import Streaming
import VigilCore

extension BenchCommand {
    func runLive(source: String) async throws {
        var configuration = try SessionArguments.configuration(arguments)
        if configuration.realtime == nil { configuration.realtime = true }
        let seconds = try arguments.double("--seconds", in: 0.1...1e9)
        let sampleInterval = try arguments.double("--sample-interval", default: 10, in: 0.1...3600)
        let baselineFrames = try arguments.int("--baseline-frames", default: 5, in: 0...1000)
        var questions: [(time: Double, text: String)] = []
        for q in arguments.values("--question") {
            guard let colon = q.firstIndex(of: ":"), let t = Double(q[..<colon]), t >= 0 else {
                throw ValidationError("invalid value '\(q)' for '--question': expected T:TEXT, T in media seconds")
            }
            questions.append((t, String(q[q.index(after: colon)...])))
        }
        questions.sort { $0.time < $1.time }

        let scheduler = ComputeScheduler.shared(threads: threads)
        let vlm = try await ModelArguments.loadVision(
            options: model, preset: preset, precision: precision, purpose: "vigil bench --live")
        let session = try LiveSession(model: vlm, source: source, configuration: configuration, scheduler: scheduler)
        let clock = DispatchTime.now()
        progress("live: \(source) for \(seconds.map { "\(Int($0)) s" } ?? "its whole length") at \(configuration.fps) fps")
        session.start()

        var samples: [JSONValue] = []
        var rss: [(wall: Double, bytes: Int)] = []
        var nextSample = 0.0
        var asked: [Task<JSONValue, Never>] = []
        var pendingQuestions = questions[...]
        while true {
            try Task.checkCancellation()
            let status = session.status
            let wall = clock.secondsElapsed
            let media = status.mediaTime ?? 0
            while let q = pendingQuestions.first, media >= q.time {
                pendingQuestions.removeFirst()
                let updates = session.ask(q.text)
                asked.append(
                    Task {
                        var answer: AnswerEvent?
                        for await u in updates { if case .finished(let a) = u { answer = a } }
                        guard let a = answer else { return .null }
                        return .object([
                            ("at", .double(a.askedAt)), ("question", .string(a.question)),
                            ("class", .string(QuestionClass.of(a.question).rawValue)),
                            ("ttft_s", .double(a.ttftMs / 1000)), ("total_s", .double(a.totalMs / 1000)),
                            ("tokens", .int(a.tokens)), ("evidence", .array(a.evidence.map(\.json))),
                            ("error", .string(a.error)),
                        ])
                    })
            }
            if wall >= nextSample {
                let bytes = ProcessMemory.residentBytes
                rss.append((wall, bytes))
                samples.append(.object([
                    ("wall_s", .double(wall)), ("media_s", .double(media)), ("rss_bytes", .int(bytes)),
                    ("kv_tokens", .int(status.kvTokens)), ("processed", .int(status.engine.framesCommitted)),
                    ("dropped", .int(status.framesDropped)),
                ]))
                if !json { progress(WatchView.describe(status, detailed: false).trimmingCharacters(in: .newlines)) }
                nextSample += sampleInterval
            }
            let ended = status.state == .ended || status.state == .failed
            if let seconds, media >= seconds { break }
            if ended && status.questionsPending == 0 && status.engine.framesCommitted >= status.framesSampled
                - status.framesDropped
            {
                break
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        var answers: [JSONValue] = []
        for task in asked { answers.append(await task.value) }
        let wallSeconds = clock.secondsElapsed
        let last = await session.stop()
        let finalRSS = ProcessMemory.residentBytes

        // The plain tower on the same thread, for the wall-time saving.
        var fullSeconds: Double?
        if baselineFrames > 0 {
            fullSeconds = await BaselineProbe(scheduler: scheduler, model: vlm.model).secondsPerFrame(baselineFrames)
        }

        let c = last.counters
        let e = last.engine
        let mediaSeconds = (last.mediaTime ?? 0)
        let cachedSeconds = e.visionSecondsPerFrame
        func meanRSS(_ range: ClosedRange<Double>) -> Double? {
            let values = rss.filter { range.contains($0.wall) }.map { Double($0.bytes) }
            return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
        }
        let secondMinute = meanRSS(60...120)
        let lastMinute = meanRSS(max(0, wallSeconds - 60)...wallSeconds + 1)
        let perFrame = { (v: Double) in e.framesEncoded > 0 ? v / Double(e.framesEncoded) : 0 }
        let wallSaved: Double? = fullSeconds.map { $0 > 0 ? 1 - cachedSeconds / $0 : 0 }
        let rssChange: Double? = secondMinute.flatMap { s in lastMinute.map { $0 / s - 1 } }
        let settings: [(String, JSONValue)] = [
            ("source", .string(source)), ("model", .string(vlm.name)), ("precision", .string(precision.rawValue)),
            ("threads", .int(threads)), ("fps", .double(configuration.fps)),
            ("cache_interval", .int(configuration.cacher.interval)),
            ("update_ratio", .double(configuration.cacher.updateRatio)),
            ("keep_tokens", .int(configuration.pruner.keep)),
        ]
        let frames: [(String, JSONValue)] = [
            ("wall_s", .double(wallSeconds)), ("media_s", .double(mediaSeconds)),
            ("frames_sampled", .int(last.framesSampled)), ("frames_processed", .int(e.framesCommitted)),
            ("processed_fps", .double(mediaSeconds > 0 ? Double(e.framesCommitted) / mediaSeconds : 0)),
            ("dropped", .object([
                ("total", .int(last.framesDropped)), ("ingest", .int(last.framesDroppedIngest)),
                ("lag", .int(c.framesDroppedLag)), ("capacity", .int(e.framesSkippedForRoom)),
            ])),
            ("lag_s", .object([
                ("p50", .double(c.commitLagP50)), ("p95", .double(c.commitLagP95)), ("max", .double(c.commitLagMax)),
            ])),
        ]
        let vision: JSONValue = .object([
            ("flops_per_frame", .double(perFrame(e.visionFLOPs))),
            ("full_flops_per_frame", .double(perFrame(e.visionFullFLOPs))),
            ("flops_saved", .double(e.visionFLOPsSaved)), ("s_per_frame", .double(cachedSeconds)),
            ("s_per_frame_full", .double(fullSeconds)), ("wall_saved", .double(wallSaved)),
            ("reference_frames", .int(e.referenceFrames)),
        ])
        let pruner: JSONValue = .object([
            ("tokens_kept", .int(e.tokensKept)), ("tokens_seen", .int(e.tokensSeen)),
            ("kept_ratio", .double(e.tokensSeen > 0 ? Double(e.tokensKept) / Double(e.tokensSeen) : 1)),
        ])
        let kv: JSONValue = .object([
            ("max_tokens", .int(e.kvMaxEver)), ("cap", .int(configuration.budget.maxPositions)),
            ("steady_mean", .double(e.kvSteadyMean)),
            ("steady_min", .int(e.kvSteadyCount > 0 ? e.kvSteadyMin : nil)),
            ("steady_max", .int(e.kvSteadyCount > 0 ? e.kvSteadyMax : nil)),
            ("final_by_kind", .object(last.kvByKind.map { ($0.0, .int($0.1)) })),
            ("evicted_blocks", .int(last.evictedBlocks)),
            ("computed_tokens", .int(last.computedTokens)), ("appended_tokens", .int(last.appendedTokens)),
            ("probe_tokens", .int(last.probeTokens)), ("matmul_primitives", .int(last.matmulPrimitives)),
        ])
        let memory: JSONValue = .object([
            ("second_minute_bytes", .double(secondMinute)), ("last_minute_bytes", .double(lastMinute)),
            ("last_vs_second_minute", .double(rssChange)), ("final_bytes", .int(finalRSS)),
            ("peak_bytes", .int(ProcessMemory.peakResidentBytes)),
        ])
        let retrieval: JSONValue = .object([
            ("blocks", .int(last.retrievalBlocks)), ("reserved_bytes", .int(last.retrievalReservedBytes)),
            ("thinned", .int(last.retrievalThinned)),
        ])
        let usage = last.featureMemory
        let hierarchical: JSONValue = .object([
            ("feature_memory", .bool(usage != nil)),
            ("ingest_ms", .object([
                ("p50", .double(c.memoryIngestP50Ms)), ("p95", .double(c.memoryIngestP95Ms)),
                ("max", .double(c.memoryIngestMaxMs)),
            ])),
            ("snapshot_ms", .object([("last", .double(c.memorySnapshotLastMs)), ("max", .double(c.memorySnapshotMaxMs))])),
            ("bank_ram_bytes", .int(usage?.bankRAMBytes)), ("bank_file_bytes", .int(usage?.bankFileBytes)),
            ("global_key_bytes", .int(usage?.globalKeyBytes)), ("synopsis_bytes", .int(usage?.synopsisBytes)),
            ("ram_bytes", .int(usage?.ramBytes)), ("bank_ram_frames", .int(usage?.bankRAMFrames)),
            ("thinned_frames", .int(usage?.thinnedFrames)),
            ("text_entries", .int(last.memoryEntries)), ("captions_written", .int(c.captionsWritten)),
            ("captions_skipped", .int(c.captionsSkipped)), ("standing_checks", .int(c.standingChecks)),
            ("standing_skipped", .int(c.standingSkipped)), ("errors", .int(c.featureMemoryErrors)),
        ])
        let report: JSONValue = .object(
            settings + frames + [
                ("vision", vision), ("pruner", pruner), ("kv", kv), ("retrieval", retrieval), ("memory", hierarchical),
                ("questions", .array(answers)), ("rss", memory), ("samples", .array(samples)),
            ])
        if json {
            Console.json(report)
        } else {
            Console.outLine(WatchView.describe(last, detailed: true))
            Console.outLine(
                "vision \(String(format: "%.3f", cachedSeconds)) s/frame with the cacher"
                    + (fullSeconds.map { String(format: ", %.3f s full (%.0f%% saved)", $0, (1 - cachedSeconds / $0) * 100) } ?? "")
                    + String(format: "; lag p50 %.2f s, p95 %.2f s", c.commitLagP50, c.commitLagP95))
            for a in answers { Console.outLine("question: \(a.serialized())") }
        }
    }
}

/// Times the plain vision tower (cacher off) on the compute thread.
actor BaselineProbe {
    nonisolated let scheduler: ComputeScheduler
    let model: SmolVLMModel
    nonisolated var unownedExecutor: UnownedSerialExecutor { scheduler.asUnownedSerialExecutor() }

    init(scheduler: ComputeScheduler, model: SmolVLMModel) {
        self.scheduler = scheduler
        self.model = model
    }

    /// Median seconds per frame over `frames` distinct random frames after one warm-up.
    func secondsPerFrame(_ frames: Int) -> Double {
        let v = model.config.visionConfig
        let encoder = CachedFrameEncoder(model: model, settings: .off)
        let context = ComputeContext()
        let out = Tensor(zeros: [model.tokensPerFrame, model.config.textConfig.hiddenSize])
        var times: [Double] = []
        for i in 0...frames {
            let pixels = Tensor.random([v.numChannels, v.imageSize, v.imageSize], seed: UInt64(100 + i), scale: 1)
            let start = DispatchTime.now()
            _ = encoder.encode(pixels, into: out, context: context)
            if i > 0 { times.append(start.secondsElapsed) }
        }
        return BenchCommand.median(times)
    }
}

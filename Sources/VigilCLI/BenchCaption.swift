// `vigil bench --caption FILE`: batch captioning at the default settings of `vigil caption` — the realtime factor
// (media seconds per wall second), seconds per clip caption and per summary, the vision time per frame, and what the
// cacher and the pruner saved: vision FLOPs (cached frames vs full ones) and decoder prefill tokens (kept vs all
// visual tokens). `--baseline` runs the same media again with both off (every frame full, every token kept) and
// reports the measured wall-time saving too.

import Foundation
import Kernels
import MediaIngest
import Memory
import SmolVLM
import Streaming
import VigilCore

extension BenchCommand {
    func runCaption(file: String) async throws {
        let seconds = try arguments.double("--seconds", in: 1...1_000_000)
        let baseline = arguments.flag("--baseline")
        guard FileManager.default.fileExists(atPath: file) else {
            throw ModelArgumentError("--caption \(file): no such file; give a recording")
        }
        _ = try probe(file)
        _ = ComputeScheduler.shared(threads: threads)
        let vlm: VisionLanguageModel
        switch try await ModelArguments.load(options: model, preset: preset, precision: precision) {
        case .vision(let v): vlm = v
        case .text: throw ModelArgumentError("--caption needs a vision model (SmolVLM or --random-weights)")
        }
        var settings = CaptionSettings()
        settings.pruner.keep = min(settings.pruner.keep, vlm.tokensPerFrame)

        func measure(_ s: CaptionSettings, label: String) async throws -> CaptionReport {
            let display = CaptionProgressDisplay(mode: Console.stderrIsTerminal && !json ? .bar : .none, files: 1)
            progress("\(label): captioning \(file)\(seconds.map { " (first \(WatchView.clock($0)))" } ?? "")…")
            let report = try await CaptionJob(model: vlm, source: file, settings: s)
                .run(until: seconds, onEntry: { _ in }, onProgress: { display.update(label, $0) })
            if Console.stderrIsTerminal && !json { Console.write("\r\u{1B}[K", to: 2) }
            return report
        }
        let r = try await measure(settings, label: "default")
        var off = settings
        off.cacher.interval = 1
        off.pruner.keep = vlm.tokensPerFrame
        let b = baseline ? try await measure(off, label: "baseline") : nil

        func figures(_ r: CaptionReport) -> [(String, JSONValue)] {
            let clips = r.entries.filter { $0.level == .clip }.count
            let summaries = r.entries.count - clips
            let media = r.duration
            return [
                ("media_s", .double(media)), ("wall_s", .double(r.wallSeconds)),
                ("realtime_x", .double(r.wallSeconds > 0 ? media / r.wallSeconds : 0)),
                ("clip_captions", .int(clips)), ("summaries", .int(summaries)),
                ("s_per_caption", .double(clips > 0 ? r.clipCaptionSeconds / Double(clips) : 0)),
                ("s_per_summary", .double(summaries > 0 ? (r.captionSeconds - r.clipCaptionSeconds) / Double(summaries) : 0)),
                ("frames_encoded", .int(r.framesEncoded)),
                ("vision_s_per_frame", .double(r.framesEncoded > 0 ? r.visionSeconds / Double(r.framesEncoded) : 0)),
                ("vision_s", .double(r.visionSeconds)), ("caption_s", .double(r.captionSeconds)),
                ("vision_flops_saved", .double(r.visionFullFLOPs > 0 ? 1 - r.visionFLOPs / r.visionFullFLOPs : 0)),
                ("visual_tokens_kept", .double(r.tokensSeen > 0 ? Double(r.tokensKept) / Double(r.tokensSeen) : 1)),
            ]
        }
        var fields: [(String, JSONValue)] = [
            ("mode", .string("caption")), ("file", .string(file)), ("model", .string(vlm.name)),
            ("precision", .string(vlm.precision.rawValue)), ("threads", .int(threads)),
            ("settings", .object(settings.fingerprint.sorted { $0.key < $1.key }.filter { $0.key != "prompts" }
                .map { ($0.key, .string($0.value)) })),
        ]
        fields += figures(r)
        if let b {
            fields.append(("baseline", .object(figures(b))))
            fields.append(("wall_saved", .double(b.wallSeconds > 0 ? 1 - r.wallSeconds / b.wallSeconds : 0)))
            fields.append(("vision_wall_saved", .double(b.visionSeconds > 0 ? 1 - r.visionSeconds / b.visionSeconds : 0)))
        }
        fields.append(("peak_rss_bytes", .int(ProcessMemory.peakResidentBytes)))
        if json {
            Console.json(.object(fields))
            return
        }
        let speed = r.wallSeconds > 0 ? r.duration / r.wallSeconds : 0
        let clips = r.entries.filter { $0.level == .clip }.count
        Console.outLine(String(format: "captioned %@ of media in %.1f s: %.2f× realtime", WatchView.clock(r.duration), r.wallSeconds, speed))
        Console.outLine(String(format: "  %d clip captions, %.2f s each; %d summaries; vision %.3f s/frame over %d frames",
            clips, clips > 0 ? r.clipCaptionSeconds / Double(clips) : 0, r.entries.count - clips,
            r.framesEncoded > 0 ? r.visionSeconds / Double(r.framesEncoded) : 0, r.framesEncoded))
        Console.outLine(String(format: "  cacher saved %.1f%% of vision FLOPs; pruner kept %.1f%% of visual tokens",
            r.visionFullFLOPs > 0 ? (1 - r.visionFLOPs / r.visionFullFLOPs) * 100 : 0,
            r.tokensSeen > 0 ? Double(r.tokensKept) / Double(r.tokensSeen) * 100 : 100))
        if let b {
            Console.outLine(String(format: "  baseline (no cacher, no pruner): %.1f s, %.2f× realtime; saved %.1f%% wall time",
                b.wallSeconds, b.wallSeconds > 0 ? b.duration / b.wallSeconds : 0,
                b.wallSeconds > 0 ? (1 - r.wallSeconds / b.wallSeconds) * 100 : 0))
        }
    }
}

// The text memory of a live session (memory brief §6.3–6.4): as frames are committed, a few of each clip's frames
// are kept (the first at or after each of `framesPerClip` evenly spaced times); when a clip's time is up it joins a
// bounded backlog, and a low-priority task captions the backlog in order — frame encoding and answers always come
// first (the scheduler's priorities), and the caption resumes where it was between tokens. When more than
// `captionBacklog` clips wait, the oldest waiting one is skipped and counted (its span is covered by nothing but the
// frames that were in the KV then). After each caption, due segment summaries and the stream summary follow.

import Foundation
import Kernels
import Memory
import SmolVLM
import VigilCore

/// Collects the frames of the clip in progress and hands over finished clips.
struct ClipCollector {
    let clipSeconds: Double
    let framesPerClip: Int
    let width: Int
    /// Start of the clip in progress.
    var start: Double = 0
    var frames: [(time: Double, tokens: Tensor)] = []

    init(clipSeconds: Double, framesPerClip: Int, width: Int) {
        self.clipSeconds = clipSeconds
        self.framesPerClip = framesPerClip
        self.width = width
    }

    /// The time of the next frame wanted in the clip in progress.
    var nextTarget: Double {
        start + Double(frames.count) * clipSeconds / Double(max(1, framesPerClip))
    }

    /// Offers a committed frame; returns the clips that ended before it (their spans and frames), oldest first.
    mutating func offer(time: Double, tokens: Tensor) -> [(start: Double, end: Double, frames: [(time: Double, tokens: Tensor)])] {
        var finished: [(start: Double, end: Double, frames: [(time: Double, tokens: Tensor)])] = []
        while time >= start + clipSeconds - 1e-9 {
            finished.append((start, start + clipSeconds, frames))
            frames = []
            start += clipSeconds
        }
        if frames.count < framesPerClip && time >= nextTarget - 1e-9 {
            let copy = Tensor(zeros: Array(tokens.shape))
            copy.copy(from: tokens)
            frames.append((time, copy))
        }
        return finished
    }
}

/// A clip waiting for its caption, or one skipped for lack of time.
enum CaptionWork {
    case clip(start: Double, end: Double, frames: [(time: Double, tokens: Tensor)])
    case skipped(start: Double, end: Double)
}

extension LiveSession {
    /// After a frame is committed: hands its tokens to the clip collector, queues finished clips.
    func collectForCaptions(time: Double, tokens: Tensor) {
        guard configuration.captions, memory != nil else { return }
        for clip in clipCollector.offer(time: time, tokens: tokens) {
            captionBacklog.append(.clip(start: clip.start, end: clip.end, frames: clip.frames))
            // Bounded: the oldest waiting clip gives way.
            var waiting = captionBacklog.filter { if case .clip = $0 { return true } else { return false } }.count
            while waiting > configuration.captionBacklog,
                let i = captionBacklog.firstIndex(where: { if case .clip = $0 { return true } else { return false } })
            {
                if case .clip(let s, let e, _) = captionBacklog[i] { captionBacklog[i] = .skipped(start: s, end: e) }
                counters.captionsSkipped += 1
                waiting -= 1
            }
        }
        captionWaiter?.resume()
        captionWaiter = nil
    }

    /// The low-priority task that writes the text memory.
    func captionLoop() async {
        guard let memory, let captioner else { return }
        while !stopped {
            guard !captionBacklog.isEmpty else {
                await withCheckedContinuation { captionWaiter = $0 }
                continue
            }
            let work = captionBacklog.removeFirst()
            captioning = true
            defer { captioning = false }
            switch work {
            case .skipped(_, let end):
                memory.skipClip(until: end)
            case .clip(let start, let end, let frames):
                if frames.isEmpty {
                    memory.skipClip(until: end)
                    break
                }
                do {
                    var job = try captioner.beginClip(frames: frames, start: start, end: end)
                    while !captioner.step(&job) && !stopped { await Task.yield() }
                    if stopped { return }  // never a cut-short caption: entries are final once written
                    let entry = captioner.entry(for: job)
                    memory.add(entry)
                    persist(entry)
                    counters.captionsWritten += 1
                    publishEntry(entry)
                } catch {
                    memory.skipClip(until: end)
                    counters.captionsSkipped += 1
                }
            }
            await summariseDue(memory: memory, captioner: captioner)
            wakeEncoder()
            updateStatus()
        }
    }

    private func summariseDue(memory: TextMemory, captioner: Captioner) async {
        while !stopped {
            // Each segment summary is followed by the stream summary (first one a resumed session missed).
            if let segment = memory.segmentAwaitingSummary {
                guard var whole = try? captioner.beginSummary(previous: memory.latestSummary, segment: segment) else { return }
                while !captioner.step(&whole) && !stopped { await Task.yield() }
                guard !stopped else { return }
                let stream = captioner.entry(for: whole)
                memory.add(stream)
                persist(stream)
                publishEntry(stream)
                continue
            }
            guard let segment = memory.dueSegment() else { return }
            guard var job = try? captioner.beginSegment(segment.clips, start: segment.start, end: segment.end) else { return }
            while !captioner.step(&job) && !stopped { await Task.yield() }
            guard !stopped else { return }
            let summary = captioner.entry(for: job)
            memory.add(summary)
            persist(summary)
            publishEntry(summary)
        }
    }

    private func publishEntry(_ e: TextMemoryEntry) {
        guard !e.text.isEmpty else { return }
        let kind: String = e.level == .clip ? "caption" : (e.level == .segment ? "segment_summary" : "summary")
        events.publish(
            .segment(
                SegmentEvent(
                    source: name, start: e.start, end: e.end, text: e.text, model: model.name,
                    latencyMs: e.timings["latency_ms"], kind: kind)))
    }

    /// Puts entries written before (a captioning pass over the same media, a resumed session) in the text memory;
    /// captioning goes on after the last clip among them. Call before `start()`.
    func seedMemory(_ entries: [TextMemoryEntry]) {
        guard let memory else { return }
        for e in entries { memory.add(e) }
        clipCollector.start = max(clipCollector.start, memory.captionedUntil)
    }

    /// The text memory's entries so far (captions and summaries).
    public func memoryEntries() -> [TextMemoryEntry] { memory?.entries ?? [] }
}

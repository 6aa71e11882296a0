// Which frames of a video SmolVLM looks at, and when they were taken.
//
// Ports transformers 5.24 `SmolVLMVideoProcessor.sample_frames` (models/smolvlm/video_processing_smolvlm.py), with
// `VideoMetadata.duration = total_frames / fps` and `timestamps = index / fps` (video_utils.py). Config keys:
// `video_sampling.fps`, `video_sampling.max_frames`.
//
//   duration = total / source_fps
//   desired  = clamp(round(fps · duration), 1, max_frames)           (Python round: half to even)
//   start, end = 0, total − 1; if duration − 2·skip > max_frames · fps:
//       start, end = int(skip · source_fps), int(total − skip · source_fps)     (then clamped; reset if start ≥ end)
//   indices  = unique(int(linspace(start, end, desired)))              (numpy float64 linspace, floored)

/// SmolVLM's uniform frame selection.
public enum VideoFrameSampler {
    /// Indices (ascending, unique) of the frames to use from a `totalFrames`-frame video at `sourceFPS`.
    ///
    /// `fps` and `maxFrames` come from `video_sampling` (1 and 64 for SmolVLM2). An empty or frameless video gives
    /// no indices.
    public static func indices(
        totalFrames: Int, sourceFPS: Double, fps: Double, maxFrames: Int, skipSeconds: Double = 1
    ) -> [Int] {
        guard totalFrames > 0, sourceFPS > 0, sourceFPS.isFinite, fps.isFinite, maxFrames >= 1 else { return [] }
        let duration = Double(totalFrames) / sourceFPS
        let estimated = PythonNumerics.round(fps * duration)
        var desired = estimated >= Double(maxFrames) ? maxFrames : Int(estimated)
        if desired < 1 { desired = 1 }

        var start = 0
        var end = totalFrames - 1
        if skipSeconds > 0 && (duration - 2 * skipSeconds) > Double(maxFrames) * fps {
            start = Int(skipSeconds * sourceFPS)
            end = Int(Double(totalFrames) - skipSeconds * sourceFPS)
        }
        start = max(0, start)
        end = min(end, totalFrames - 1)
        if start >= end {
            start = 0
            end = totalFrames - 1
        }

        var result: [Int] = []
        result.reserveCapacity(desired)
        for value in PythonNumerics.linspace(Double(start), Double(end), desired) {
            let index = Int(value.rounded(.down))
            if result.last != index { result.append(index) }
        }
        // linspace is non-decreasing, so dropping repeats of the previous value is numpy's `unique`.
        return result
    }

    /// Timestamps in seconds of `indices` in a video at `sourceFPS` (`index / fps`).
    public static func timestamps(indices: [Int], sourceFPS: Double) -> [Double] {
        indices.map { Double($0) / sourceFPS }
    }
}

// MediaIngest: FFmpeg-based reading of files, RTSP cameras, HTTP(S) URLs and standard input (docs/ingest.md).
//
//   frames(from:options:onEvent:)  sampled, upright RGB frames of a source as an AsyncSequence (FrameStream.swift)
//   probe(_:options:)              container/stream facts without decoding everything (Probe.swift)
//   VideoClip                      decoded frame count/rate and frames by decode index (VideoClip.swift)
//   ImageFile                      still images in (PNG/JPEG) and PNGs out (ImageFile.swift)
//
// Only this module imports CFFmpeg; raw pts and time bases never leave it (callers see `MediaTime`).

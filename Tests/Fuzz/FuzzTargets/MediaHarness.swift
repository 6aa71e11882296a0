// Fuzz harness: media files, as a camera, a download or a user hands them over. The input is the file: it is
// probed (`vigil probe`), its first frames are decoded and converted to RGB (`vigil generate --video`), and it is
// read as a still image (`--image`), all in-process through FFmpeg with Vigil's limits (MediaLimits): a picture
// too large is an error, and opening or decoding that takes too long ends with an error, not a hang. FFmpeg itself
// is not instrumented, so coverage guidance comes from Vigil's side only; FFmpeg crashes are still caught.

import MediaIngest

enum MediaHarness {
    static func run(_ input: [UInt8]) {
        let path = Scratch.write(input, to: "input", in: Scratch.emptyFolder("media")).path
        _ = try? probe(path)
        _ = try? VideoClip.frames(path, atIndices: [0, 1, 2])
        _ = try? ImageFile.load(path)
    }
}

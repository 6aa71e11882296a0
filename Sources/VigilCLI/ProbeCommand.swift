// `vigil probe <source> [--json]`: what a video file or stream holds (MediaIngest.probe), as a readable summary or
// one JSON object with the keys of docs/ingest.md.

import MediaIngest
import VigilCore

/// `vigil probe`.
struct ProbeCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "probe",
        abstract: "Show what a video file or stream holds.",
        discussion: """
            Opens the source, picks its video stream the way ingest does and reports the container, codec, \
            displayed and coded size, rotation, frame rate, duration and frame count. Sizes are displayed sizes \
            (after rotation metadata). Unknown values are null in --json output.
            """,
        arguments: [
            .positional("source", help: "A video file, '-' for standard input, or an rtsp:// or http(s):// URL."),
            .flag("--json", help: "Print one JSON object."),
        ] + SourceArguments.specs,
        examples: [
            "vigil probe clip.mp4",
            "vigil probe rtsp://camera.local/stream --json --timeout 3",
        ])

    let source: String
    let json: Bool
    let sourceArguments: SourceArguments

    init(_ arguments: ParsedArguments) throws {
        source = try arguments.required("source")
        json = arguments.flag("--json")
        sourceArguments = try SourceArguments(arguments)
    }

    func run() async throws {
        sourceArguments.applyLogLevel()
        let options = sourceArguments.ingestOptions()
        let source = self.source
        // probe blocks in FFmpeg: keep it off Swift's cooperative pool.
        let result = try await runOnThread { () throws(MediaError) -> ProbeResult in
            try probe(source, options: options)
        }
        if json {
            Console.json(result.json)
            return
        }
        Console.out(Self.summary(result))
    }

    /// The readable form.
    static func summary(_ r: ProbeResult) -> String {
        func seconds(_ value: Double?) -> String {
            guard let value else { return "unknown" }
            return "\((value * 1000).rounded() / 1000) s"
        }
        var out = "source:     \(r.source)\n"
        out += "container:  \(r.container)\n"
        out += "video:      stream \(r.videoStream), \(r.codec)"
        if let format = r.pixelFormat { out += " (\(format))" }
        out += "\n"
        out += "size:       \(r.width)x\(r.height) displayed"
        if r.rotation != 0 || r.codedWidth != r.width || r.codedHeight != r.height {
            out += " (coded \(r.codedWidth)x\(r.codedHeight), rotation \(r.rotation)°)"
        }
        out += "\n"
        out += "rate:       " + (r.fps.map { "\(($0 * 1000).rounded() / 1000) fps" } ?? "unknown") + "\n"
        out += "duration:   \(seconds(r.duration))\n"
        out += "frames:     " + (r.frameCount.map { "\($0) (container index)" } ?? "unknown without decoding") + "\n"
        return out
    }
}

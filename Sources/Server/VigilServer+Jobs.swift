// Captioning jobs over HTTP: `POST /v1/jobs` (a file inside an allowed folder, the formats, the caption settings),
// `GET /v1/jobs[/{id}]` (state, progress, speed, ETA), `GET /v1/jobs/{id}/result?format=…`, `DELETE /v1/jobs/{id}`
// (cancels a queued or running job; forgets a finished one and its files). The work is JobManager's.

import Foundation
import HTTPServer
import Memory
import Streaming
import VigilCore

/// The body of `POST /v1/jobs`.
struct JobRequest: Decodable {
    /// The file to caption (absolute path or file://, inside an allowed folder).
    var input: String
    /// `"all"`, `"srt,vtt"` or `["srt", "vtt"]` (default all).
    var formats: [String]
    var fps: Double?
    var clipSeconds: Double?
    var segmentSeconds: Double?
    var framesPerClip: Int?
    /// A clip caption prompt instead of the built-in one.
    var prompt: String?

    enum CodingKeys: String, CodingKey {
        case input, formats, fps, prompt
        case clipSeconds = "clip_seconds"
        case segmentSeconds = "segment_seconds"
        case framesPerClip = "frames_per_clip"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        input = try c.decode(String.self, forKey: .input)
        if let list = try? c.decodeIfPresent([String].self, forKey: .formats) {
            formats = list
        } else {
            formats = [try c.decodeIfPresent(String.self, forKey: .formats) ?? "all"]
        }
        fps = try c.decodeIfPresent(Double.self, forKey: .fps)
        clipSeconds = try c.decodeIfPresent(Double.self, forKey: .clipSeconds)
        segmentSeconds = try c.decodeIfPresent(Double.self, forKey: .segmentSeconds)
        framesPerClip = try c.decodeIfPresent(Int.self, forKey: .framesPerClip)
        prompt = try c.decodeIfPresent(String.self, forKey: .prompt)
    }
}

extension Service {
    func addJobRoutes(to router: inout HTTPRouter) {
        router.post("/v1/jobs") { [self] request in
            _ = try requireModel()
            let body = try request.decodeJSON(JobRequest.self)
            let record = try jobRecord(body)
            let created = try jobs.create(record)
            return .json(JobManager.json(created, progress: nil), status: 201)
        }
        router.get("/v1/jobs") { [self] _ in
            .json(
                .object([
                    ("object", .string("list")),
                    ("data", .array(jobs.all.map { JobManager.json($0.record, progress: $0.progress) })),
                ]))
        }
        router.get("/v1/jobs/{id}") { [self] request in
            let id = request.pathParameters["id"] ?? ""
            guard let job = jobs.job(id) else { throw APIError.unknownJob(id) }
            return .json(JobManager.json(job.record, progress: job.progress))
        }
        router.get("/v1/jobs/{id}/result") { [self] request in
            let id = request.pathParameters["id"] ?? ""
            let name = request.query["format"] ?? "vtt"
            guard let format = CaptionFormat(rawValue: name.lowercased()) else {
                throw HTTPError.badRequest("format '\(name)': use vtt, srt, jsonl or txt")
            }
            return .text(try jobs.result(id, format: format), contentType: Self.contentType(of: format))
        }
        router.delete("/v1/jobs/{id}") { [self] request in
            let id = request.pathParameters["id"] ?? ""
            if let record = try jobs.cancelOrRemove(id) {
                return .json(JobManager.json(record, progress: jobs.job(id)?.progress))
            }
            return .json(.object([("id", .string(id)), ("object", .string("caption_job")), ("deleted", .bool(true))]))
        }
    }

    /// A new job record from a request: input confined, settings checked.
    func jobRecord(_ body: JobRequest) throws(HTTPError) -> JobRecord {
        let input = try paths.resolve(body.input, what: "input")
        let formats: [CaptionFormat]
        do throws(MemoryError) {
            formats = try CaptionFormat.parseList(body.formats.joined(separator: ","))
        } catch {
            throw .badRequest("formats: \(error.description)")
        }
        func check(_ value: Double?, _ name: String, _ range: ClosedRange<Double>, default d: Double) throws(HTTPError)
            -> Double
        {
            guard let value else { return d }
            guard value.isFinite, range.contains(value) else {
                throw .badRequest("\(name): give a number between \(range.lowerBound) and \(range.upperBound)")
            }
            return value
        }
        let defaults = CaptionSettings()
        let fps = try check(body.fps, "fps", 0.01...30, default: defaults.fps)
        let clip = try check(body.clipSeconds, "clip_seconds", 1...3600, default: defaults.schedule.clipSeconds)
        let segment = try check(
            body.segmentSeconds, "segment_seconds", 1...86_400, default: defaults.schedule.segmentSeconds)
        guard segment >= clip else { throw .badRequest("segment_seconds must be at least clip_seconds") }
        let frames = body.framesPerClip ?? defaults.framesPerClip
        guard (1...64).contains(frames) else { throw .badRequest("frames_per_clip: give 1 to 64") }
        if let prompt = body.prompt, prompt.isEmpty || prompt.count > 2000 {
            throw .badRequest("prompt: give 1 to 2000 characters")
        }
        return JobRecord(
            id: Self.makeID("job_"), input: input, formats: formats.map(\.rawValue), fps: fps, clipSeconds: clip,
            segmentSeconds: segment, framesPerClip: frames, prompt: body.prompt, state: .queued, createdAt: nowText(),
            startedAt: nil, finishedAt: nil, error: nil, durationSeconds: nil, wallSeconds: nil, entries: nil)
    }
}

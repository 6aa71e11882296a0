// A server stopped and started again on the same state folder: finished jobs are kept (state and results), an
// unfinished job resumes from its journal and finishes, every source is resumed with its settings and alerts
// without anyone re-adding it, and its captions are there again.

import Foundation
@testable import Server
import Streaming
import TestSupport
import Testing

@Suite(.serialized, .holdingSerialLock) struct ServerRestartTests {
    func waitForJob(_ server: VigilServer, _ id: String, _ condition: @escaping ([String: Any]) -> Bool) async -> Bool {
        await eventually {
            guard let job = try? await Curl.run(server.base + "/v1/jobs/\(id)").json else { return false }
            return condition(job)
        }
    }

    @Test func aRestartKeepsJobsSourcesAlertsAndCaptions() async throws {
        let state = try ServerFixtures.stateDirectory()
        let enableCaptions: (inout VigilServerConfiguration) -> Void = { $0.sessionDefaults.captions = true }
        let first = try await ServerFixtures.start(state: state, enableCaptions)
        // A finished job.
        let made = try await Curl.post(
            first.base + "/v1/jobs",
            json: #"{"input":"\#(ServerFixtures.clip("static_moving.mp4"))","clip_seconds":4,"segment_seconds":8,"#
                + #""formats":["vtt","jsonl"]}"#)
        #expect(made.status == 201, "\(made.body)")
        let finishedID = try #require(made.json?["id"] as? String)
        #expect(await waitForJob(first, finishedID) { $0["state"] as? String == "succeeded" })
        let resultBefore = try await Curl.run(first.base + "/v1/jobs/\(finishedID)/result?format=vtt")
        #expect(resultBefore.status == 200 && resultBefore.body.hasPrefix("WEBVTT"))
        #expect(try await Curl.run(first.base + "/v1/jobs/\(finishedID)/result?format=srt").status == 404)

        // Two sources with captions; one has an alert.
        let cam = try await Curl.post(
            first.base + "/v1/sources",
            json: #"{"url":"\#(ServerFixtures.clip("static_moving.mp4"))","name":"cam","options":{"window":8},"#
                + #""alerts":[{"question":"tell me when a red square appears","cooldown_s":10}]}"#)
        #expect(cam.status == 201, "\(cam.body)")
        let alertID = try #require(((cam.json?["alerts"] as? [[String: Any]])?.first)?["id"] as? String)
        let gone = ServerFixtures.media.appendingPathComponent("gone-\(UUID().uuidString.prefix(6)).mp4")
        try FileManager.default.copyItem(atPath: ServerFixtures.clip("scene_cut.mp4"), toPath: gone.path)
        #expect(try await Curl.post(first.base + "/v1/sources", json: #"{"url":"\#(gone.path)","name":"gone"}"#)
            .status == 201)
        for id in ["cam", "gone"] { await first.session(id)?.waitUntilIdle() }
        let goneCaptions = try await Curl.run(first.base + "/v1/sources/gone/captions?format=jsonl").body
        #expect(!goneCaptions.isEmpty)

        // An unfinished job: stopped while it runs.
        let long = try await Curl.post(
            first.base + "/v1/jobs",
            json: #"{"input":"\#(ServerFixtures.clip("long.mkv"))","fps":4,"clip_seconds":2,"segment_seconds":8,"#
                + #""frames_per_clip":8}"#)
        let longID = try #require(long.json?["id"] as? String)
        #expect(await waitForJob(first, longID) { ($0["entries"] as? Int ?? 0) >= 1 })
        await first.stop()
        let record = try String(
            contentsOf: state.appendingPathComponent("jobs/\(longID)/job.json"), encoding: .utf8)
        // It stops at its next clip (29 are left), back in the queue with its journal.
        #expect(record.contains(#""state" : "queued""#))
        #expect(FileManager.default.fileExists(
            atPath: state.appendingPathComponent("jobs/\(longID)/captions.vigil-journal").path))
        // The recording of `gone` disappears: what the session knew must come from its saved state.
        try FileManager.default.removeItem(at: gone)

        let second = try await ServerFixtures.start(state: state, enableCaptions)
        defer { Task { await second.stop() } }
        #expect(second.sourceIDs == ["cam", "gone"], "every source resumed, in order")
        let resultAfter = try await Curl.run(second.base + "/v1/jobs/\(finishedID)/result?format=vtt")
        #expect(resultAfter.body == resultBefore.body)
        #expect(try await Curl.run(second.base + "/v1/jobs/\(finishedID)").json?["state"] as? String == "succeeded")
        #expect(await waitForJob(second, longID) { $0["state"] as? String == "succeeded" }, "resumed and finished")
        let jsonl = try await Curl.run(second.base + "/v1/jobs/\(longID)/result?format=jsonl")
        let clips = jsonl.body.split(separator: "\n").filter { $0.contains(#""level":"clip""#) }
        #expect(clips.count == 30, "every 2 s clip of the 60 s input, once")

        let camAfter = try await Curl.run(second.base + "/v1/sources/cam")
        #expect((camAfter.json?["options"] as? [String: String])?["window"] == "8")
        let alerts = camAfter.json?["alerts"] as? [[String: Any]]
        #expect(alerts?.map { $0["id"] as? String } == [alertID])
        let standing = try #require(await second.session("cam")?.standingQuestions())
        #expect(standing.map(\.id) == [alertID], "the alert is a standing question of the resumed session")
        #expect(await eventually {
            let s = try? await Curl.run(second.base + "/v1/sources/cam")
            return ((s?.json?["status"] as? [String: Any])?["frames_processed"] as? Int ?? 0) > 0
        }, "the resumed source runs")
        #expect(await eventually {
            let vtt = try? await Curl.run(second.base + "/v1/sources/cam/captions?format=vtt")
            return vtt?.body.contains(" --> ") == true
        })
        // Captions of a source whose recording is gone can only come from the session's own saved memory
        // (LiveSession restores its persistent session, `<state>/sessions/gone`).
        let after = try await Curl.run(second.base + "/v1/sources/gone/captions?format=jsonl").body
        #expect(after == goneCaptions)
    }
}

// The web page in a real browser (Debian's headless Chromium, over the DevTools protocol): it lists the source,
// shows its status and latest frame, and a question typed into the ask box is answered there — the answer streamed
// in is the session's answer, seen both in the DOM and in a screenshot taken at the end.

import Foundation
import Server
import Streaming
import TestSupport
import Testing
import VigilCore

@Suite(.serialized, .holdingSerialLock) struct WebPageTests {
    static let enabled = HeadlessChromium.isInstalled || Fixtures.isCI

    @Test(.enabled(if: enabled, "Chromium is not installed: run scripts/setup (Debian's chromium)"))
    func aQuestionAskedOnThePageIsAnsweredThere() async throws {
        try #require(HeadlessChromium.isInstalled, "Chromium is missing: run scripts/setup")
        let server = try await ServerFixtures.start(sources: [("cam1", ServerFixtures.clip("static_moving.mp4"))])
        defer { Task { await server.stop() } }
        let session = try #require(server.session("cam1"))
        await session.waitUntilIdle()
        let events = session.events.subscribe()

        let browser = try HeadlessChromium()
        try await browser.openPage(server.base + "/?source=cam1")
        func wait(_ what: String, _ expression: String) async -> Bool {
            await eventually { (try? await browser.evaluate(expression)) as? Bool == true }
        }
        #expect(await wait("the source", "document.getElementById('source-name').textContent === 'cam1'"))
        #expect(await wait("its status", "document.getElementById('status').textContent.includes('ended')"))
        #expect(await wait("its frame", "document.getElementById('frame').naturalWidth > 0"))
        #expect(await wait("the list", "document.querySelectorAll('#sources .source').length === 1"))

        // Type and ask, as a person would.
        _ = try await browser.evaluate(
            """
            (() => { const q = document.getElementById('question'); q.focus(); q.value = 'What is moving?';
                     document.getElementById('ask-form').requestSubmit(); return true; })()
            """)
        #expect(await wait("the answer", "['done', 'error'].includes(document.getElementById('answer').dataset.state)"))
        let state = try await browser.evaluate("document.getElementById('answer').dataset.state") as? String
        let shown = try await browser.evaluate("document.getElementById('answer').textContent") as? String
        let meta = try await browser.evaluate("document.getElementById('answer-meta').textContent") as? String
        #expect(state == "done", "\(meta ?? "")")
        var answer: AnswerEvent?
        for await numbered in events {
            if case .answer(let a) = numbered.event {
                answer = a
                break
            }
        }
        let text = try #require(answer?.text)
        #expect(!text.isEmpty)
        #expect(shown == text, "the page shows the session's answer")
        #expect(meta?.contains("first token") == true)
        #expect(await wait("the timeline", "document.querySelectorAll('#timeline li.answer').length >= 1"))

        let png = try await browser.screenshot()
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let file = try MediaFixtures.scratchDirectory("web-page").appendingPathComponent("answered.png")
        try png.write(to: file)
        #expect(png.count > 10_000, "a rendered page, kept at \(file.path)")
    }
}

// Fuzz harness: caption journals read back at resume (`vigil caption` after an interruption). The input is the
// journal file. The harness takes the identity from the header line when it has one (so a matching journal is read
// past its header), reads it, resumes it (cutting a torn tail), appends an entry and the finished mark, reads it
// again, and then uses the entries as a resumed run does: every caption format is rendered, the text memory indexes
// and searches them, and the due clip and segment are computed.

import Foundation
import Memory

enum CaptionJournalHarness {
    static func run(_ input: [UInt8]) {
        let path = Scratch.write(input, to: "captions.journal", in: Scratch.emptyFolder("caption-journal")).path
        let identity = headerIdentity(input)
        guard let contents = try? CaptionJournal.read(at: path, identity: identity) else { return }
        use(contents.entries)
        if let (journal, resumed) = try? CaptionJournal.resume(at: path, identity: identity) {
            if !resumed.isFinished {
                try? journal.append(
                    TextMemoryEntry(
                        level: .clip, start: resumed.resumeTime, end: resumed.resumeTime + 30, text: "next",
                        tokenCount: 1, createdAt: Date(timeIntervalSince1970: 1_780_000_000)))
                try? journal.markFinished()
            }
            journal.close()
            if let again = try? CaptionJournal.read(at: path, identity: identity) {
                precondition(again.isFinished, "a journal marked finished does not read back finished")
            }
        }
        for line in input.split(separator: 0x0A).prefix(64) {
            _ = try? TextMemoryEntry(jsonLine: FuzzInput.text(Array(line)))
        }
    }

    /// The identity the journal's first line names (or one that matches nothing).
    private static func headerIdentity(_ input: [UInt8]) -> JournalIdentity {
        let firstLine = input.prefix { $0 != 0x0A }
        let object = (try? JSONSerialization.jsonObject(with: Data(firstLine))) as? [String: Any]
        func int64(_ key: String) -> Int64 { (object?[key] as? NSNumber)?.int64Value ?? 0 }
        return JournalIdentity(
            inputPath: object?["input"] as? String ?? "/nonexistent", inputSize: int64("size"),
            inputModifiedNanoseconds: int64("modified_ns"), settings: object?["settings"] as? String ?? "")
    }

    /// What a resumed run does with the entries it read back.
    private static func use(_ entries: [TextMemoryEntry]) {
        for format in CaptionFormat.allCases {
            _ = CaptionWriter.render(entries, as: format)
            _ = CaptionWriter.render(
                entries, as: format,
                options: CaptionWriter.Options(note: "fuzz", timingNotes: true, mediaDuration: 60, runDetails: false))
        }
        let memory = TextMemory(entries: entries)
        _ = memory.search("person walking", levels: Set(TextMemoryEntry.Level.allCases), endingBy: 1e9, limit: 5)
        _ = memory.dueClip(at: memory.captionedUntil + 30)
        _ = memory.dueSegment(final: true)
        _ = memory.latestSummary
    }
}

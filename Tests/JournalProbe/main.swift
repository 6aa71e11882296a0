// Journal probe (test-only executable): appends caption entries to a new journal as fast as it can and reports
// each one on standard output once `append` has returned. `CaptionJournalCrashTests` kills it with SIGKILL at an
// arbitrary moment and checks that every reported entry is in the journal.
//
// Usage: JournalProbe <journal path> <input path> <count>

import Foundation
import Memory
import VigilCore

let arguments = CommandLine.arguments
guard arguments.count == 4, let count = Int(arguments[3]) else {
    Console.errLine("usage: JournalProbe <journal path> <input path> <count>")
    exit(64)
}
do {
    let identity = try JournalIdentity.of(inputAt: arguments[2], settings: "probe")
    let journal = try CaptionJournal.create(at: arguments[1], identity: identity)
    for index in 0..<count {
        try journal.append(probeEntry(index))
        Console.outLine(String(index))
    }
    try journal.markFinished()
} catch {
    Console.errLine("JournalProbe: \(error)")
    exit(1)
}

/// The `index`th entry the probe appends (the crash test builds the same ones).
func probeEntry(_ index: Int) -> TextMemoryEntry {
    TextMemoryEntry(
        level: .clip, start: Double(index) * 30, end: Double(index + 1) * 30,
        text: "Probe caption \(index) " + String(repeating: "x", count: index % 500), tokenCount: index % 48,
        createdAt: Date(timeIntervalSince1970: 1_780_000_000 + Double(index)))
}

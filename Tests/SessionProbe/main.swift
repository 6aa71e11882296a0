// Session probe (test-only executable): commits captions and synopsis states to a session store as fast as it can
// and reports each commit on standard output once the call has returned (`entry N`, `synopsis N`).
// `SessionStoreCrashTests` kills it with SIGKILL at an arbitrary moment, reopens the session and checks that
// everything reported is there and nothing is torn.
//
// Usage: SessionProbe <state folder> <session name> <count>

import Foundation
import Memory
import SessionStore
import VigilCore

let arguments = CommandLine.arguments
guard arguments.count == 4, let count = Int(arguments[3]) else {
    Console.errLine("usage: SessionProbe <state folder> <session name> <count>")
    exit(64)
}
do {
    let store = try SessionStore.open(name: arguments[2], stateDirectory: arguments[1], create: true)
    _ = try store.beginRun()
    let memory = try FeatureMemory(configuration: FeatureMemoryConfiguration(geometry: probeGeometry()))
    for index in 0..<count {
        try store.append(probeEntry(index))
        Console.outLine("entry \(index)")
        try memory.ingest(frame: index, tokens: probeTokens(index), time: Double(index))
        if index % 3 == 2 {
            try store.saveSynopsis(memory.synopsisState, lastFrame: index, mediaTime: Double(index))
            Console.outLine("synopsis \(index)")
        }
    }
    store.close()
} catch {
    Console.errLine("SessionProbe: \(error)")
    exit(1)
}

/// The `index`th entry the probe appends (the crash test builds the same ones).
func probeEntry(_ index: Int) -> TextMemoryEntry {
    TextMemoryEntry(
        level: index % 10 == 9 ? .segment : .clip, start: Double(index) * 30, end: Double(index + 1) * 30,
        text: "Probe caption \(index) " + String(repeating: "y", count: index % 300), tokenCount: index % 48,
        createdAt: Date(timeIntervalSince1970: 1_780_000_000 + Double(index)), model: "probe",
        timings: ["latency_ms": Double(index) / 8])
}

/// The probe's frame geometry: 16 tokens of 128 values (a synopsis state of ~120 KB).
func probeGeometry() -> FeatureGeometry { try! FeatureGeometry(tokenCount: 16, hiddenSize: 128) }

/// Frame `index`'s tokens: five recurring scenes with a small deterministic wobble.
func probeTokens(_ index: Int) -> [Float] {
    (0..<16 * 128).map { Float((index / 20) % 5) + Float(0.01 * sin(Double(index * 1000 + $0))) }
}

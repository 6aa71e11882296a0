// LineEditorDemo (test-only executable): the terminal input line of `vigil watch` on its own, for LineEditorTests
// to drive through a real pseudo-terminal (tmux). It writes a status line "counter <n>" every 200 ms; for each line
// entered it writes "got: <line>"; for the line "stream" it also streams a 40-word answer word by word (30 ms
// apart, wrapping past an 80-column terminal) and then "end of stream"; for "warn" it logs a warning (Log, on
// standard error, so through Console's terminal sink). "quit" or Ctrl-D ends it with status 0;
// Ctrl-C ends it with status 130, after the editor has restored the terminal.
//
// Usage: LineEditorDemo [history file]

import Foundation
import VigilCLI
import VigilCore

/// The streamed answer (LineEditorTests looks for it, whole, in the scrollback).
let answer = """
    The camera shows a narrow street at dusk where a cyclist in a yellow jacket passes two parked cars, a dog \
    waits by a green door, and a delivery van slowly turns left at the far corner while the streetlights \
    flicker on one after another
    """

let historyFile = CommandLine.arguments.count > 1 ? URL(fileURLWithPath: CommandLine.arguments[1]) : nil
let editor: LineEditor
do {
    editor = try LineEditor(prompt: "> ", historyFile: historyFile)
} catch {
    Console.errLine("LineEditorDemo: \(error)")
    exit(1)
}

let counter = Task.detached {
    var n = 0
    while !Task.isCancelled {
        n += 1
        editor.writeStatus("counter \(n)")
        try? await Task.sleep(for: .milliseconds(200))
    }
}

for await line in editor.lines {
    editor.write("got: \(line)\n")
    if line == "quit" { break }
    if line == "warn" { Log.warning("a warning through Console") }  // stderr: goes through Console's sink
    if line == "stream" {
        for (index, word) in answer.split(separator: " ").enumerated() {
            editor.write(index == 0 ? String(word) : " " + word)
            try? await Task.sleep(for: .milliseconds(30))
        }
        editor.write("\nend of stream\n")
    }
}
counter.cancel()
editor.close()
exit(Interruption.isRequested ? 130 : 0)

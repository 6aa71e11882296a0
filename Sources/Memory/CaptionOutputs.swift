// The output files of captioning one input: `<dir>/<name>.srt|.vtt|.jsonl|.txt` plus the journal
// `<dir>/<name>.vigil-journal`, and what a rerun has left to do (docs/captioning.md, "Resume"). The sequence of a run:
//
//   1. journal = CaptionJournal.create (or .resume): header with the input's identity and the settings
//   2. journal.append(entry) for every finished entry, empty captions included (each is fsync'd)
//   3. journal.markFinished()                        every entry is in
//   4. outputs.write(entries)                        each format atomically (temporary file, fsync, rename)
//   5. journal.close(); outputs.removeJournal()      the mark that the outputs are complete
//
// So an input is complete exactly when there is no journal and every requested output exists; a journal left behind
// means the run stopped before step 5 and says how far it got.

import Foundation
import Glibc

/// What a rerun has left to do for one input.
public enum CaptionJobState: Sendable, Equatable {
    /// No journal and every requested output exists: nothing to do (`--skip-existing` skips the input).
    case complete
    /// A finished journal: every entry is in; only the outputs need writing (from `contents.entries`).
    case writeOutputs(JournalContents)
    /// An unfinished journal: continue captioning from `contents.resumeTime` after `contents.entries`.
    case resume(JournalContents)
    /// No journal and some output missing: caption the input from the start.
    case start
}

/// The caption files of one input and its journal.
public struct CaptionOutputs: Sendable, Hashable {
    /// The folder the files go to.
    public var directory: String
    /// The file name without extension (the input's name without its extension).
    public var baseName: String
    /// The formats to write.
    public var formats: [CaptionFormat]

    /// The outputs `<directory>/<baseName>.<ext>` for `formats`.
    public init(directory: String, baseName: String, formats: [CaptionFormat]) {
        self.directory = directory
        self.baseName = baseName
        self.formats = formats
    }

    /// The outputs of the input file at `inputPath`: named after it without its extension, in `directory`
    /// (default: the input's own folder).
    public init(input inputPath: String, directory: String? = nil, formats: [CaptionFormat]) {
        let url = URL(fileURLWithPath: inputPath)
        self.init(
            directory: directory ?? url.deletingLastPathComponent().path,
            baseName: url.deletingPathExtension().lastPathComponent, formats: formats)
    }

    /// The path of the `format` file.
    public func path(for format: CaptionFormat) -> String {
        directory + "/" + baseName + "." + format.fileExtension
    }

    /// The path of the journal.
    public var journalPath: String { directory + "/" + baseName + ".vigil-journal" }

    /// What is left to do for the input with `identity`; throws when a journal is there but is damaged or belongs
    /// to another input or other settings.
    public func state(identity: JournalIdentity) throws(MemoryError) -> CaptionJobState {
        if access(journalPath, F_OK) == 0 {
            let contents = try CaptionJournal.read(at: journalPath, identity: identity)
            return contents.isFinished ? .writeOutputs(contents) : .resume(contents)
        }
        return formats.allSatisfy { access(path(for: $0), F_OK) == 0 } ? .complete : .start
    }

    /// Writes every format's file from `entries`, each atomically (the folder must exist).
    public func write(_ entries: [TextMemoryEntry], options: CaptionWriter.Options = .init()) throws(MemoryError) {
        for format in formats {
            try AtomicFile.write(CaptionWriter.render(entries, as: format, options: options), to: path(for: format))
        }
    }

    /// Removes the journal: the mark that every output is written and complete.
    public func removeJournal() throws(MemoryError) {
        try AtomicFile.remove(journalPath)
    }
}

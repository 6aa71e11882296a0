// `vigil sessions list|show|export|rm`: the persistent sessions that `vigil watch --session NAME` (and the server)
// keep under the state folder (docs/memory.md, "Persistence"). The commands read without taking a session over —
// `list`, `show` and `export` work while the session runs; `rm` refuses a session in use.

import Foundation
import Memory
import ModelHub
import SessionStore
import VigilCore

/// `vigil sessions`.
struct SessionsCommand: VigilCommandGroup {
    static let name = "sessions"
    static let abstract = "List, inspect, export and remove persistent sessions."
    static let subcommands: [any VigilCommand.Type] = [
        SessionsListCommand.self, SessionsShowCommand.self, SessionsExportCommand.self, SessionsRemoveCommand.self,
    ]

    static let stateDirectorySpec = ArgumentSpec.option(
        "--state-dir", value: "DIR", help: "The state folder sessions live under.",
        default: "$VIGIL_STATE, else $XDG_STATE_HOME/vigil, else ~/.local/state/vigil")

    static func json(_ s: SessionSummary) -> JSONValue {
        let m = s.metadata
        return .object([
            ("name", .string(s.name)), ("directory", .string(s.directory)), ("source", .string(m?.source)),
            ("model", .string(m?.model)), ("created_at", .string(m.map { WallTime.format($0.createdAt) })),
            ("updated_at", .string(m.map { WallTime.format($0.updatedAt) })),
            ("last_media_time", .double(m?.lastMediaTime)), ("last_frame", .int(m?.lastFrame)),
            ("entries", .object(TextMemoryEntry.Level.allCases.map { ($0.rawValue, .int(s.entryCounts[$0] ?? 0)) })),
            ("standing_questions", .object(s.questionCounts.sorted { $0.key.rawValue < $1.key.rawValue }
                .map { ($0.key.rawValue, .int($0.value)) })),
            ("runs", .int(s.runCount)), ("bytes", .int(Int(s.bytes))), ("in_use", .bool(s.isInUse)),
            ("problem", .string(s.problem)),
        ])
    }
}

// MARK: - list

/// `vigil sessions list`.
struct SessionsListCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "list", abstract: "List the persistent sessions: source, captions, media time, size.",
        discussion: "One line per session under the state folder; a session whose database cannot be read is listed "
            + "with the reason. With --json, one JSON object per line.",
        arguments: [.flag("--json", help: "Print one JSON object per session."), SessionsCommand.stateDirectorySpec],
        examples: ["vigil sessions list", "vigil sessions list --json --state-dir /var/lib/vigil"])

    let json: Bool
    let stateDirectory: String?

    init(_ a: ParsedArguments) throws {
        json = a.flag("--json")
        stateDirectory = a.value("--state-dir")
    }

    func run() async throws {
        let sessions = try SessionStore.listSessions(stateDirectory: stateDirectory)
        if json {
            for s in sessions { Console.json(SessionsCommand.json(s)) }
            return
        }
        guard !sessions.isEmpty else {
            Console.errLine("vigil: no sessions in \(SessionStore.sessionsDirectory(stateDirectory: stateDirectory))")
            return
        }
        let width = min(32, sessions.map(\.name.count).max() ?? 0)
        for s in sessions {
            var line = s.name.padding(toLength: max(width, s.name.count), withPad: " ", startingAt: 0)
            if let problem = s.problem {
                Console.outLine(line + "  unreadable: " + problem)
                continue
            }
            let clips = s.entryCounts[.clip] ?? 0
            line += "  " + WatchView.clock(s.metadata?.lastMediaTime ?? 0).leftPadded(to: 8)
            line += "  \(clips) captions".leftPadded(to: 14) + "  " + ByteFormat.string(s.bytes).leftPadded(to: 9)
            line += "  \(s.runCount) run" + (s.runCount == 1 ? "" : "s") + (s.isInUse ? "  (in use)" : "")
            line += "  " + (s.metadata?.source ?? "")
            Console.outLine(line)
        }
    }
}

// MARK: - show

/// `vigil sessions show NAME`.
struct SessionsShowCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "show", abstract: "Show one session: source, model, captions, standing questions, runs, size.",
        arguments: [
            .positional("name", help: "The session's name."), .flag("--json", help: "Print one JSON object."),
            SessionsCommand.stateDirectorySpec,
        ],
        examples: ["vigil sessions show front-door", "vigil sessions show front-door --json"])

    let name: String
    let json: Bool
    let stateDirectory: String?

    init(_ a: ParsedArguments) throws {
        name = try a.required("name")
        json = a.flag("--json")
        stateDirectory = a.value("--state-dir")
    }

    func run() async throws {
        let s = try SessionStore.summary(name: name, stateDirectory: stateDirectory)
        if json {
            Console.json(SessionsCommand.json(s))
            return
        }
        if let problem = s.problem { throw SessionsCommandError("session '\(name)' (\(s.directory)): \(problem)") }
        let m = s.metadata
        var out = "session   \(s.name)\(s.isInUse ? "  (in use)" : "")\n"
        out += "folder    \(s.directory)\n"
        out += "source    \(m?.source ?? "–")\n"
        out += "model     \(m?.model ?? "–")\n"
        if let m {
            out += "created   \(WallTime.format(m.createdAt)); last write \(WallTime.format(m.updatedAt))\n"
        }
        out += "media     \(WatchView.clock(m?.lastMediaTime ?? 0)) over \(s.runCount) run\(s.runCount == 1 ? "" : "s")\n"
        let counts = TextMemoryEntry.Level.allCases.map { "\(s.entryCounts[$0] ?? 0) \($0.rawValue)" }
        out += "memory    " + counts.joined(separator: ", ") + "\n"
        let questions = s.questionCounts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }
        out += "standing  " + (questions.isEmpty ? "none" : questions.joined(separator: ", ")) + "\n"
        out += "size      \(ByteFormat.string(s.bytes))\n"
        Console.out(out)
    }
}

// MARK: - export

/// `vigil sessions export NAME`.
struct SessionsExportCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "export", abstract: "Write a session's captions and summaries as SRT, WebVTT, JSONL or text.",
        discussion: "Files are named after the session (NAME.srt, …) and written atomically; the session may be "
            + "running. docs/captioning.md describes the formats.",
        arguments: [
            .positional("name", help: "The session's name."),
            .option("--format", short: "-f", value: "LIST", help: "srt,vtt,jsonl,txt or all.", default: "all"),
            .option("--output-dir", short: "-o", value: "DIR", help: "Where the files go.", default: "."),
            SessionsCommand.stateDirectorySpec,
        ],
        examples: ["vigil sessions export front-door -f srt,vtt -o exports/"])

    let name: String
    let formats: [CaptionFormat]
    let directory: String
    let stateDirectory: String?

    init(_ a: ParsedArguments) throws {
        name = try a.required("name")
        do {
            formats = try CaptionFormat.parseList(a.value("--format") ?? "all")
        } catch {
            throw ValidationError("--format: \(error.description)")
        }
        directory = a.value("--output-dir") ?? "."
        stateDirectory = a.value("--state-dir")
    }

    func run() async throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SessionsCommandError("-o \(directory): cannot create the folder (\(error.localizedDescription))")
        }
        let paths = try SessionStore.export(
            name: name, stateDirectory: stateDirectory, formats: formats, to: directory)
        for p in paths { Console.outLine(p) }
    }
}

// MARK: - rm

/// `vigil sessions rm NAME…`.
struct SessionsRemoveCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "rm", abstract: "Delete sessions: database, feature bank and index.",
        discussion: "A session another process has open is not touched (stop it first).",
        arguments: [
            .positional("names", help: "The sessions' names.", repeatable: true), SessionsCommand.stateDirectorySpec,
        ],
        examples: ["vigil sessions rm front-door"])

    let names: [String]
    let stateDirectory: String?

    init(_ a: ParsedArguments) throws {
        names = a.values("names")
        guard !names.isEmpty else { throw ValidationError("give the name of a session to remove") }
        stateDirectory = a.value("--state-dir")
    }

    func run() async throws {
        var failed = 0
        for name in names {
            do {
                try SessionStore.remove(name: name, stateDirectory: stateDirectory)
                Console.errLine("removed \(name)")
            } catch {
                Log.error(error.description)
                failed += 1
            }
        }
        if failed > 0 { throw ExitRequest(.failure) }
    }
}

/// A sessions command that cannot do what was asked.
struct SessionsCommandError: UserFacingError {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

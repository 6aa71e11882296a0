// The options of commands that run a live session (`watch`, `bench --live`): one `--KEY VALUE` per setting of
// `SessionConfiguration.options` (same names as pipeline preset keys, defaults shown in help), `--pipeline`, and
// `--realtime`. Precedence: built-in defaults < the pipeline preset < options on the command line.

import Foundation
import SessionStore
import Streaming
import VigilCore

/// Reading a session configuration from a command line.
enum SessionArguments {
    /// The specs: `--pipeline`, `--realtime`, `--name`, then every session setting.
    static let specs: [ArgumentSpec] =
        [
            .option(
                "--pipeline", value: "NAME|FILE",
                help: "A preset of the settings below (pipelines/NAME.conf); options given here override it."),
            .flag("--realtime", help: "Replay a file at its own pace (default for network sources)."),
            .option("--name", value: "NAME", help: "The source's name in events.", default: "the source"),
        ]
        + SessionConfiguration.options.map { option in
            .option("--" + option.key, value: option.valueName, help: option.help, default: option.defaultText)
        }

    /// `--session NAME` and `--state-dir DIR`: a persistent session (`vigil watch`).
    static let persistenceSpecs: [ArgumentSpec] = [
        .option(
            "--session", value: "NAME",
            help: "Keep the session's memory under NAME and resume it when started again (vigil sessions manages them)."),
        .option(
            "--state-dir", value: "DIR", help: "The state folder sessions live under.",
            default: "$VIGIL_STATE, else $XDG_STATE_HOME/vigil, else ~/.local/state/vigil"),
    ]

    /// The persistent session the command line names (nil without `--session`).
    static func persistentSession(_ a: ParsedArguments) throws -> PersistentSession? {
        guard let name = a.value("--session") else {
            if a.value("--state-dir") != nil { throw ValidationError("'--state-dir' needs '--session NAME'") }
            return nil
        }
        guard SessionStore.isValidName(name) else {
            throw ValidationError(
                "invalid value '\(name)' for '--session': use 1–64 letters, digits, '.', '_' or '-'")
        }
        return PersistentSession(name: name, stateDirectory: a.value("--state-dir"))
    }

    /// The configuration the command line asks for.
    static func configuration(_ a: ParsedArguments) throws -> SessionConfiguration {
        var c = SessionConfiguration()
        if let name = a.value("--pipeline") {
            do throws(PipelineError) {
                try Pipeline.load(name).apply(to: &c)
            } catch {
                throw SessionArgumentError(error.description)
            }
        }
        for option in SessionConfiguration.options {
            guard let value = a.value("--" + option.key) else { continue }
            do throws(SettingError) {
                try option.apply(value, to: &c)
            } catch {
                throw ValidationError("invalid value '\(value)' for '--\(option.key)': \(error.message)")
            }
        }
        if a.flag("--realtime") { c.realtime = true }
        if let name = a.value("--name") { c.sourceName = name }
        return c
    }
}

/// A preset that cannot be used (exit 1: it names the file and line).
struct SessionArgumentError: UserFacingError {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

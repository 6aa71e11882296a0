// The options of commands that run a live session (`watch`, `bench --live`): one `--KEY VALUE` per setting of
// `SessionConfiguration.options` (same names as pipeline preset keys, defaults shown in help), `--pipeline`, and
// `--realtime`. Precedence: built-in defaults < the pipeline preset < options on the command line.

import Foundation
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

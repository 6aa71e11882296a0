// The `vigil` entry point: finds the subcommand, parses its arguments, runs it, and maps the outcome to an exit
// status. SIGINT and SIGTERM cancel the running command (exit 130); a second signal exits at once.

import Dispatch
import Foundation
import VigilCore

/// The `vigil` program.
public enum VigilMain {
    /// The version printed by `vigil --version`.
    public static let version = "0.1.0"

    static let abstract = "Streaming video understanding on the CPU: watch a stream, ask about it, caption recordings."

    /// One entry of the top-level command list.
    enum Entry {
        case command(any VigilCommand.Type)
        case group(any VigilCommandGroup.Type)

        var name: String {
            switch self {
            case .command(let c): return c.configuration.name
            case .group(let g): return g.name
            }
        }

        var abstract: String {
            switch self {
            case .command(let c): return c.configuration.abstract
            case .group(let g): return g.abstract
            }
        }
    }

    /// The subcommands, in help order.
    static let entries: [Entry] = [
        .command(ProbeCommand.self),
        .command(FramesCommand.self),
        .command(GenerateCommand.self),
        .command(WatchCommand.self),
        .command(CaptionCommand.self),
        .command(AskCommand.self),
        .group(SessionsCommand.self),
        .command(ServeCommand.self),
        .group(ModelsCommand.self),
        .command(BenchCommand.self),
    ]

    /// Runs `vigil` with `arguments` (without the program name) and returns the exit status.
    public static func run(_ arguments: [String]) async -> Int32 {
        Interruption.install()
        guard let first = arguments.first else {
            Console.out(Help.commandList(abstract: abstract, path: "vigil", entries: entries.map { ($0.name, $0.abstract) }))
            return ExitCode.usage.rawValue
        }
        switch first {
        case "-h", "--help":
            Console.out(Help.commandList(abstract: abstract, path: "vigil", entries: entries.map { ($0.name, $0.abstract) }))
            return ExitCode.success.rawValue
        case "--version":
            Console.outLine(version)
            return ExitCode.success.rawValue
        case "help":
            return help(Array(arguments.dropFirst()))
        default:
            break
        }
        guard let entry = entries.first(where: { $0.name == first }) else {
            return usageError("unknown subcommand '\(first)'", path: "vigil")
        }
        let rest = Array(arguments.dropFirst())
        switch entry {
        case .command(let type):
            return await execute(type, rest, path: "vigil \(type.configuration.name)")
        case .group(let group):
            let path = "vigil \(group.name)"
            let list = Help.commandList(
                abstract: group.abstract, path: path,
                entries: group.subcommands.map { ($0.configuration.name, $0.configuration.abstract) })
            guard let sub = rest.first else {
                Console.errLine(list)
                return ExitCode.usage.rawValue
            }
            if sub == "-h" || sub == "--help" {
                Console.out(list)
                return ExitCode.success.rawValue
            }
            guard let type = group.subcommands.first(where: { $0.configuration.name == sub }) else {
                return usageError("unknown subcommand '\(sub)' of '\(group.name)'", path: path)
            }
            return await execute(type, Array(rest.dropFirst()), path: "\(path) \(sub)")
        }
    }

    private static func help(_ names: [String]) -> Int32 {
        guard let name = names.first else {
            Console.out(Help.commandList(abstract: abstract, path: "vigil", entries: entries.map { ($0.name, $0.abstract) }))
            return ExitCode.success.rawValue
        }
        switch entries.first(where: { $0.name == name }) {
        case .command(let type)?:
            Console.out(Help.page(for: type.configuration, path: "vigil \(name)"))
        case .group(let group)?:
            if names.count > 1, let type = group.subcommands.first(where: { $0.configuration.name == names[1] }) {
                Console.out(Help.page(for: type.configuration, path: "vigil \(name) \(names[1])"))
            } else {
                Console.out(Help.commandList(
                    abstract: group.abstract, path: "vigil \(name)",
                    entries: group.subcommands.map { ($0.configuration.name, $0.configuration.abstract) }))
            }
        case nil:
            return usageError("unknown subcommand '\(name)'", path: "vigil")
        }
        return ExitCode.success.rawValue
    }

    private static func execute(_ type: any VigilCommand.Type, _ arguments: [String], path: String) async -> Int32 {
        if arguments.contains("-h") || arguments.contains("--help") {
            Console.out(Help.page(for: type.configuration, path: path))
            return ExitCode.success.rawValue
        }
        let command: any VigilCommand
        do {
            let parsed = try ParsedArguments(arguments, specs: type.configuration.arguments)
            command = try type.init(parsed)
        } catch let error as ValidationError {
            return usageError(error.message, path: path)
        } catch {
            Log.error("\(error)")
            return ExitCode.failure.rawValue
        }
        let task = Task { try await command.run() }
        Interruption.onInterrupt { task.cancel() }
        do {
            try await task.value
            return Interruption.isRequested ? ExitCode.interrupted.rawValue : ExitCode.success.rawValue
        } catch let request as ExitRequest {
            return request.code.rawValue
        } catch let error as ValidationError {
            return usageError(error.message, path: path)
        } catch is CancellationError {
            return ExitCode.interrupted.rawValue
        } catch {
            if Interruption.isRequested { return ExitCode.interrupted.rawValue }
            Log.error("\(error)")
            return ExitCode.failure.rawValue
        }
    }

    private static func usageError(_ message: String, path: String) -> Int32 {
        Console.errLine("vigil: error: \(message)")
        Console.errLine("Usage: see '\(path) --help'.")
        return ExitCode.usage.rawValue
    }
}

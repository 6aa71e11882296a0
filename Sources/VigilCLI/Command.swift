// Commands, exit codes and the dispatcher behind the `vigil` executable. The CLI is thin: parse, validate, call a
// library, stream output.

import Foundation
import VigilCore

/// Process exit statuses (docs/cli.md).
public enum ExitCode: Int32, Sendable {
    /// Success.
    case success = 0
    /// Any failure of input, model or source.
    case failure = 1
    /// Bad usage: unknown flag, missing argument (EX_USAGE).
    case usage = 64
    /// Interrupted by SIGINT or SIGTERM.
    case interrupted = 130
}

/// Thrown by a command that has already reported its problem and only needs the process to exit with `code`.
public struct ExitRequest: Error, Sendable {
    public var code: ExitCode
    public init(_ code: ExitCode) { self.code = code }
}

/// Static description of a command: its name, help text and arguments.
public struct CommandConfiguration: Sendable {
    public var name: String
    /// One line, shown in the parent's command list.
    public var abstract: String
    /// Paragraphs shown under the usage line of `--help`.
    public var discussion: String
    /// The arguments, in help order.
    public var arguments: [ArgumentSpec]
    /// Examples shown at the end of `--help`.
    public var examples: [String]

    public init(
        name: String, abstract: String, discussion: String = "", arguments: [ArgumentSpec], examples: [String] = []
    ) {
        self.name = name
        self.abstract = abstract
        self.discussion = discussion
        self.arguments = arguments
        self.examples = examples
    }
}

/// A `vigil` subcommand.
public protocol VigilCommand: Sendable {
    /// Name, help and arguments.
    static var configuration: CommandConfiguration { get }
    /// Builds the command from a parsed command line, validating values (throws `ValidationError`).
    init(_ arguments: ParsedArguments) throws
    /// Runs the command. Throwing a `UserFacingError` prints it and exits 1.
    func run() async throws
}

/// A command with subcommands of its own (`vigil models list`).
public protocol VigilCommandGroup: Sendable {
    static var name: String { get }
    static var abstract: String { get }
    static var subcommands: [any VigilCommand.Type] { get }
}

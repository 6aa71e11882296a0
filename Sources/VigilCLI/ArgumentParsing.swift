// A small command-line parser in swift-argument-parser's shape (which Vigil does not depend on): each command
// declares its arguments once, as `ArgumentSpec`s; the parser validates the command line against them and the same
// declarations produce `--help` with defaults. Usage errors are `ValidationError`s and exit with 64 (EX_USAGE).

/// What kind of command-line argument a spec describes.
public enum ArgumentKind: Sendable {
    /// `--name`, no value.
    case flag
    /// `--name VALUE` or `--name=VALUE`.
    case option
    /// A bare value, in order.
    case positional
}

/// One argument a command accepts.
public struct ArgumentSpec: Sendable {
    public var kind: ArgumentKind
    /// Long name with dashes (`--fps`) for flags and options; the value name (`source`) for positionals.
    public var name: String
    /// Optional one-letter alias with a dash (`-o`).
    public var short: String?
    /// Placeholder shown in help (`F`, `DIR`).
    public var valueName: String
    /// One-line help text.
    public var help: String
    /// The default as shown in help; nil when there is none.
    public var defaultDescription: String?
    /// Whether the command line must give it.
    public var isRequired: Bool
    /// Whether it may be given more than once (options) or take the remaining values (positionals).
    public var isRepeatable: Bool

    /// A `--name` flag.
    public static func flag(_ name: String, short: String? = nil, help: String) -> ArgumentSpec {
        ArgumentSpec(
            kind: .flag, name: name, short: short, valueName: "", help: help, defaultDescription: nil,
            isRequired: false, isRepeatable: false)
    }

    /// A `--name VALUE` option.
    public static func option(
        _ name: String, short: String? = nil, value: String, help: String, default defaultDescription: String? = nil,
        required: Bool = false, repeatable: Bool = false
    ) -> ArgumentSpec {
        ArgumentSpec(
            kind: .option, name: name, short: short, valueName: value, help: help,
            defaultDescription: defaultDescription, isRequired: required, isRepeatable: repeatable)
    }

    /// A positional value.
    public static func positional(
        _ name: String, help: String, required: Bool = true, repeatable: Bool = false
    ) -> ArgumentSpec {
        ArgumentSpec(
            kind: .positional, name: name, short: nil, valueName: name, help: help, defaultDescription: nil,
            isRequired: required, isRepeatable: repeatable)
    }
}

/// A bad command line: unknown flag, missing or malformed value. Exits with 64.
public struct ValidationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The result of parsing a command line against a command's specs.
public struct ParsedArguments: Sendable {
    private var flags: Set<String> = []
    private var options: [String: [String]] = [:]
    private var positionals: [String: [String]] = [:]

    /// Parses `arguments` (without the command names) against `specs`.
    public init(_ arguments: [String], specs: [ArgumentSpec]) throws(ValidationError) {
        var byName: [String: ArgumentSpec] = [:]
        for spec in specs where spec.kind != .positional {
            byName[spec.name] = spec
            if let short = spec.short { byName[short] = spec }
        }
        let positionalSpecs = specs.filter { $0.kind == .positional }
        var loose: [String] = []
        var index = 0
        var onlyPositionals = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if onlyPositionals || argument == "-" || !argument.hasPrefix("-") || Self.isNumber(argument) {
                loose.append(argument)
                continue
            }
            if argument == "--" {
                onlyPositionals = true
                continue
            }
            var name = argument
            var inlineValue: String?
            if let eq = argument.firstIndex(of: "="), argument.hasPrefix("--") {
                name = String(argument[..<eq])
                inlineValue = String(argument[argument.index(after: eq)...])
            }
            guard let spec = byName[name] else {
                throw ValidationError("unknown option '\(name)'")
            }
            switch spec.kind {
            case .flag:
                if inlineValue != nil { throw ValidationError("'\(spec.name)' takes no value") }
                flags.insert(spec.name)
            case .option:
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard index < arguments.count else {
                        throw ValidationError("missing value for '\(spec.name) <\(spec.valueName)>'")
                    }
                    value = arguments[index]
                    index += 1
                }
                if options[spec.name] != nil && !spec.isRepeatable {
                    throw ValidationError("'\(spec.name)' given more than once")
                }
                options[spec.name, default: []].append(value)
            case .positional:
                break
            }
        }
        for spec in positionalSpecs {
            if spec.isRepeatable {
                positionals[spec.name] = loose
                loose = []
            } else if !loose.isEmpty {
                positionals[spec.name] = [loose.removeFirst()]
            }
        }
        if let extra = loose.first {
            throw ValidationError("unexpected argument '\(extra)'")
        }
        for spec in specs where spec.isRequired {
            switch spec.kind {
            case .positional where (positionals[spec.name] ?? []).isEmpty:
                throw ValidationError("missing argument <\(spec.name)>")
            case .option where options[spec.name] == nil:
                throw ValidationError("missing option '\(spec.name) <\(spec.valueName)>'")
            default: break
            }
        }
    }

    private static func isNumber(_ s: String) -> Bool { s.count > 1 && Double(s) != nil }

    /// Whether flag `name` was given.
    public func flag(_ name: String) -> Bool { flags.contains(name) }

    /// The value of option or positional `name`, if given.
    public func value(_ name: String) -> String? { options[name]?.last ?? positionals[name]?.first }

    /// All values of a repeatable option or positional.
    public func values(_ name: String) -> [String] { options[name] ?? positionals[name] ?? [] }

    /// The value of `name`, which the specs made required.
    public func required(_ name: String) throws(ValidationError) -> String {
        guard let v = value(name) else { throw ValidationError("missing '\(name)'") }
        return v
    }

    /// An integer option, `defaultValue` when absent, checked against `range`.
    public func int(_ name: String, default defaultValue: Int, in range: ClosedRange<Int> = Int.min...Int.max)
        throws(ValidationError) -> Int
    {
        guard let text = value(name) else { return defaultValue }
        guard let v = Int(text), range.contains(v) else {
            throw ValidationError("invalid value '\(text)' for '\(name)': expected an integer in \(Self.show(range))")
        }
        return v
    }

    /// An optional integer option, checked against `range`.
    public func int(_ name: String, in range: ClosedRange<Int> = Int.min...Int.max) throws(ValidationError) -> Int? {
        guard value(name) != nil else { return nil }
        return try int(name, default: 0, in: range)
    }

    /// A number option, `defaultValue` when absent, checked against `range`.
    public func double(
        _ name: String, default defaultValue: Double, in range: ClosedRange<Double> = -Double.infinity...Double.infinity
    ) throws(ValidationError) -> Double {
        guard let text = value(name) else { return defaultValue }
        guard let v = Double(text), v.isFinite, range.contains(v) else {
            throw ValidationError("invalid value '\(text)' for '\(name)': expected a number in \(Self.show(range))")
        }
        return v
    }

    /// An optional number option, checked against `range`.
    public func double(_ name: String, in range: ClosedRange<Double> = -Double.infinity...Double.infinity)
        throws(ValidationError) -> Double?
    {
        guard value(name) != nil else { return nil }
        return try double(name, default: 0, in: range)
    }

    /// One of a fixed set of words, `defaultValue` when absent.
    public func choice<T: RawRepresentable>(_ name: String, default defaultValue: T) throws(ValidationError) -> T
    where T.RawValue == String, T: CaseIterable {
        guard let text = value(name) else { return defaultValue }
        guard let v = T(rawValue: text) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: "|")
            throw ValidationError("invalid value '\(text)' for '\(name)': expected one of \(allowed)")
        }
        return v
    }

    private static func show<T>(_ range: ClosedRange<T>) -> String {
        "[\(range.lowerBound), \(range.upperBound)]"
            .replacingOccurrences(of: "\(Int.min)", with: "-inf")
            .replacingOccurrences(of: "\(Int.max)", with: "inf")
    }
}

// Named pipeline presets: small readable files of `key = value` lines (the keys of `SessionConfiguration.options`),
// `#` comments and blank lines allowed, kept in the repository's top-level `pipelines/` folder and loaded with
// `--pipeline NAME|FILE`. Options given on the command line override them. An unknown key or a bad value is an
// error naming the file and the line.
//
// Where a NAME is looked for: $VIGIL_PIPELINES, ./pipelines, then `pipelines/` next to (or two and three levels above)
// the running executable, which covers a checkout's `.build/<config>/vigil` and an install under `share/vigil/`.

import Foundation

/// A pipeline preset read from a file.
public struct Pipeline: Sendable, Equatable {
    /// Its name (the file name without `.conf`).
    public var name: String
    /// The file it came from.
    public var path: String
    /// The settings, in file order: (key, value, line).
    public var settings: [(key: String, value: String, line: Int)]

    public static func == (a: Pipeline, b: Pipeline) -> Bool {
        a.name == b.name && a.path == b.path && a.settings.map { "\($0.key)=\($0.value)@\($0.line)" }
            == b.settings.map { "\($0.key)=\($0.value)@\($0.line)" }
    }

    /// Parses preset text (`path` is for messages).
    public static func parse(_ text: String, path: String) throws(PipelineError) -> Pipeline {
        var settings: [(key: String, value: String, line: Int)] = []
        var seen: [String: Int] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw PipelineError(path: path, line: number, message: "expected 'key = value', got '\(line)'")
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2 && value.hasPrefix("\"") && value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            guard let option = SessionConfiguration.option(named: key) else {
                let known = SessionConfiguration.options.map(\.key).joined(separator: ", ")
                throw PipelineError(path: path, line: number, message: "unknown key '\(key)' (known keys: \(known))")
            }
            if let earlier = seen[key] {
                throw PipelineError(path: path, line: number, message: "'\(key)' is already set on line \(earlier)")
            }
            seen[key] = number
            // Check the value now, so the error names this line.
            var scratch = SessionConfiguration()
            do throws(SettingError) {
                try option.apply(value, to: &scratch)
            } catch {
                throw PipelineError(path: path, line: number, message: error.message + " for '\(key)'")
            }
            settings.append((option.key, value, number))
        }
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return Pipeline(name: name, path: path, settings: settings)
    }

    /// Loads `nameOrPath`: a file path (contains "/" or ends in .conf), else a preset name in the search folders.
    public static func load(_ nameOrPath: String) throws(PipelineError) -> Pipeline {
        let fm = FileManager.default
        var path: String?
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".conf") {
            path = nameOrPath
        } else {
            path = searchFolders().map { ($0 as NSString).appendingPathComponent(nameOrPath + ".conf") }
                .first { fm.fileExists(atPath: $0) }
        }
        guard let path else {
            let names = available().map(\.name)
            throw PipelineError(
                path: nameOrPath, line: nil,
                message: "no such pipeline preset" + (names.isEmpty
                    ? " (no pipelines folder found; give a file path, or set VIGIL_PIPELINES)"
                    : " (available: \(names.joined(separator: ", ")))"))
        }
        guard let data = fm.contents(atPath: path) else {
            throw PipelineError(path: path, line: nil, message: "cannot read the file (missing or not readable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PipelineError(path: path, line: nil, message: "the file is not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    /// The presets found in the search folders (first folder wins per name), by name.
    public static func available() -> [(name: String, path: String)] {
        var found: [String: String] = [:]
        for folder in searchFolders() {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for file in files where file.hasSuffix(".conf") {
                let name = String(file.dropLast(5))
                if found[name] == nil { found[name] = (folder as NSString).appendingPathComponent(file) }
            }
        }
        return found.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Folders searched for preset names, in order (existing ones only).
    public static func searchFolders() -> [String] {
        var folders: [String] = []
        if let env = ProcessInfo.processInfo.environment["VIGIL_PIPELINES"], !env.isEmpty { folders.append(env) }
        folders.append(FileManager.default.currentDirectoryPath + "/pipelines")
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        var dir = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            folders.append(dir.appendingPathComponent("pipelines").path)
            folders.append(dir.appendingPathComponent("share/vigil/pipelines").path)
            dir = dir.deletingLastPathComponent()
        }
        var seen = Set<String>()
        var isDirectory: ObjCBool = false
        return folders.filter {
            seen.insert($0).inserted && FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }
    }

    /// Applies the preset's settings to `configuration`.
    public func apply(to configuration: inout SessionConfiguration) throws(PipelineError) {
        for s in settings {
            do throws(SettingError) {
                try SessionConfiguration.option(named: s.key)!.apply(s.value, to: &configuration)
            } catch {
                throw PipelineError(path: path, line: s.line, message: error.message)
            }
        }
    }
}

/// A preset that cannot be used: which file (and line), and what is wrong.
public struct PipelineError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var line: Int?
    public var message: String
    public var description: String {
        "pipeline \(path)\(line.map { ":\($0)" } ?? ""): \(message)"
    }
}

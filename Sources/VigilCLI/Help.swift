// `--help` text, generated from the same specs the parser uses, so defaults shown are the defaults applied.

/// Renders help pages.
enum Help {
    static let width = 100

    /// The help page of one command.
    static func page(for configuration: CommandConfiguration, path: String) -> String {
        var out = "OVERVIEW: \(configuration.abstract)\n\n"
        if !configuration.discussion.isEmpty {
            out += wrap(configuration.discussion, indent: 0) + "\n\n"
        }
        out += "USAGE: \(path)\(usageTail(configuration.arguments))\n"
        let positionals = configuration.arguments.filter { $0.kind == .positional }
        if !positionals.isEmpty {
            out += "\nARGUMENTS:\n"
            for spec in positionals { out += row("<\(spec.name)>", spec) }
        }
        out += "\nOPTIONS:\n"
        for spec in configuration.arguments where spec.kind != .positional {
            var label = spec.short.map { "\($0), " } ?? ""
            label += spec.name
            if spec.kind == .option { label += " <\(spec.valueName)>" }
            out += row(label, spec)
        }
        out += row("-h, --help", .flag("--help", help: "Show help information."))
        if !configuration.examples.isEmpty {
            out += "\nEXAMPLES:\n"
            for example in configuration.examples { out += "  \(example)\n" }
        }
        return out
    }

    /// The list of subcommands of `vigil` or of a group.
    static func commandList(abstract: String, path: String, entries: [(String, String)]) -> String {
        var out = "OVERVIEW: \(abstract)\n\nUSAGE: \(path) <subcommand>\n\nSUBCOMMANDS:\n"
        for (name, summary) in entries {
            out += "  " + name.padding(18) + summary + "\n"
        }
        out += "\n  See '\(path) help <subcommand>' or '\(path) <subcommand> --help' for details.\n"
        return out
    }

    private static func usageTail(_ specs: [ArgumentSpec]) -> String {
        var tail = ""
        for spec in specs {
            switch spec.kind {
            case .positional:
                let core = "<\(spec.name)>" + (spec.isRepeatable ? " ..." : "")
                tail += spec.isRequired ? " \(core)" : " [\(core)]"
            case .option where spec.isRequired:
                tail += " \(spec.name) <\(spec.valueName)>"
            default: break
            }
        }
        if specs.contains(where: { $0.kind != .positional && !$0.isRequired }) { tail += " [<options>]" }
        return tail
    }

    private static func row(_ label: String, _ spec: ArgumentSpec) -> String {
        var text = spec.help
        if let d = spec.defaultDescription { text += " (default: \(d))" }
        let column = 28
        let lead = "  " + label
        if lead.count + 2 > column {
            return lead + "\n" + wrap(text, indent: column) + "\n"
        }
        let wrapped = wrap(text, indent: column)
        return lead.padding(column) + wrapped.dropFirst(column) + "\n"
    }

    /// Word-wraps `text` to `width` columns, every line indented by `indent` spaces.
    static func wrap(_ text: String, indent: Int) -> String {
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for word in paragraph.split(separator: " ") {
                if !line.isEmpty && indent + line.count + 1 + word.count > width {
                    lines.append(String(repeating: " ", count: indent) + line)
                    line = ""
                }
                line += (line.isEmpty ? "" : " ") + word
            }
            lines.append(String(repeating: " ", count: indent) + line)
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}

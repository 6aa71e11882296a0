// `vigil models list|path|pull`, and `ModelOptions`, the `--model` options every model-using command shares.
// The commands are thin: they parse, call ModelHub, and print. Hub ids resolve in the Hugging Face cache
// (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub; `--cache-dir` wins), shared with the Python
// tools; see docs/models.md.

import Foundation
import ModelHub
import VigilCore

/// `vigil models`.
struct ModelsCommand: VigilCommandGroup {
    static let name = "models"
    static let abstract = "List, locate and download models in the Hugging Face cache."
    static let subcommands: [any VigilCommand.Type] = [
        ModelsListCommand.self, ModelsPathCommand.self, ModelsPullCommand.self,
    ]
}

// MARK: - Shared --model options

/// The options of a command that loads a model: `--model`, `--revision`, `--offline`, `--cache-dir`.
public struct ModelOptions: Sendable {
    /// The model used when `--model` is not given.
    public static let defaultModel = "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"

    /// The specs to add to a command's arguments.
    public static let specs: [ArgumentSpec] = [
        .option(
            "--model", value: "M", help: "Model: a local folder, a .gguf file, or a hub id org/name.",
            default: defaultModel),
        revisionSpec,
        .flag("--offline", help: "Never download: use the cache only (also HF_HUB_OFFLINE=1)."),
        cacheDirSpec,
    ]

    static let revisionSpec = ArgumentSpec.option(
        "--revision", value: "R", help: "Branch, tag or commit of a hub model.", default: ModelLocation.defaultRevision)
    static let cacheDirSpec = ArgumentSpec.option(
        "--cache-dir", value: "DIR", help: "Hugging Face cache root.",
        default: "$HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub")

    /// `--model` text.
    public var model: String
    /// `--revision`.
    public var revision: String
    /// `--offline`.
    public var offline: Bool
    /// `--cache-dir`, when given.
    public var cacheDirectory: String?

    /// Reads the options from a parsed command line.
    public init(_ arguments: ParsedArguments) throws(ValidationError) {
        model = arguments.value("--model") ?? Self.defaultModel
        revision = arguments.value("--revision") ?? ModelLocation.defaultRevision
        offline = arguments.flag("--offline")
        cacheDirectory = arguments.value("--cache-dir")
        do {
            try ModelLocation.validate(revision: revision)
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// The hub environment: process environment plus `--offline` and `--cache-dir`.
    public func environment() throws(HubError) -> HubEnvironment {
        try HubEnvironment.fromProcess(cacheDirectory: cacheDirectory, offline: offline)
    }

    /// Where `--model` points.
    public func location() throws(HubError) -> ModelLocation {
        try ModelLocation.parse(model, revision: revision)
    }

    /// Finds (downloading when allowed) the files of `files` and returns the model folder (or the .gguf file).
    public func resolve(_ files: ModelFileSet) async throws -> URL {
        try await ModelResolver(environment: environment()).resolve(location(), files: files)
    }
}

// MARK: - list

/// `vigil models list`.
struct ModelsListCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "list", abstract: "List the models in the Hugging Face cache, with their size on disk.",
        discussion: "One line per cached model repository: id, size of its complete files, its refs (branch or "
            + "tag -> commit) and any partial downloads. With --json, one JSON object per line.",
        arguments: [
            .flag("--json", help: "Print one JSON object per model."),
            ModelOptions.cacheDirSpec,
        ],
        examples: ["vigil models list", "vigil models list --json --cache-dir /data/hf-cache"])

    let json: Bool
    let cacheDirectory: String?

    init(_ arguments: ParsedArguments) throws {
        json = arguments.flag("--json")
        cacheDirectory = arguments.value("--cache-dir")
    }

    func run() async throws {
        let environment = try HubEnvironment.fromProcess(cacheDirectory: cacheDirectory)
        let cache = HubCache(root: environment.cacheRoot)
        let models = try cache.models()
        if json {
            for model in models { Console.json(Self.json(model)) }
            return
        }
        guard !models.isEmpty else {
            Console.errLine("vigil: no models in \(cache.root.path)")
            return
        }
        let width = min(60, models.map(\.repo.count).max() ?? 0)
        for model in models {
            var line = model.repo.padding(toLength: max(width, model.repo.count), withPad: " ", startingAt: 0)
            line += "  " + ByteFormat.string(model.sizeBytes).leftPadded(to: 9)
            let refs = model.refs.map { "\($0.name) \(String($0.commit.prefix(7)))" }
            line += "  " + (refs.isEmpty ? "(no refs)" : refs.joined(separator: ", "))
            if model.incompleteBytes > 0 {
                line += "  (+\(ByteFormat.string(model.incompleteBytes)) partial)"
            }
            Console.outLine(line)
        }
    }

    static func json(_ model: CachedModel) -> JSONValue {
        .object([
            ("repo", .string(model.repo)),
            ("size_bytes", .int(Int(model.sizeBytes))),
            ("incomplete_bytes", .int(Int(model.incompleteBytes))),
            ("refs", .object(model.refs.map { ($0.name, JSONValue.string($0.commit)) })),
            ("snapshots", .array(model.snapshots.map(JSONValue.string))),
            ("path", .string(model.folder.path)),
        ])
    }
}

// MARK: - path

/// `vigil models path`.
struct ModelsPathCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "path", abstract: "Print the folder holding a model's files (no download).",
        discussion: "For a hub id, the snapshot folder of the revision in the cache; an error when it is not "
            + "cached. For a local folder or .gguf file, its absolute path.",
        arguments: [
            .positional("model", help: "A hub id org/name, a local folder or a .gguf file."),
            ModelOptions.revisionSpec,
            ModelOptions.cacheDirSpec,
        ],
        examples: ["vigil models path HuggingFaceTB/SmolVLM2-256M-Video-Instruct"])

    let model: String
    let revision: String
    let cacheDirectory: String?

    init(_ arguments: ParsedArguments) throws {
        model = try arguments.required("model")
        revision = arguments.value("--revision") ?? ModelLocation.defaultRevision
        cacheDirectory = arguments.value("--cache-dir")
    }

    func run() async throws {
        let environment = try HubEnvironment.fromProcess(cacheDirectory: cacheDirectory, offline: true)
        switch try ModelLocation.parse(model, revision: revision) {
        case .folder(let url), .ggufFile(let url):
            Console.outLine(url.path)
        case .hub(let repo, let revision):
            let resolver = ModelResolver(environment: environment, showsProgress: false)
            guard let folder = resolver.cachedSnapshot(repo: repo, revision: revision) else {
                throw HubError(
                    .notCached,
                    "model '\(repo)' (revision '\(revision)') is not in the cache at \(environment.cacheRoot.path): "
                        + "download it with `vigil models pull \(repo)"
                        + (revision == ModelLocation.defaultRevision ? "" : " --revision \(revision)") + "`")
            }
            Console.outLine(folder.path)
        }
    }
}

// MARK: - pull

/// `vigil models pull`.
struct ModelsPullCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "pull", abstract: "Download all files of a hub model into the cache.",
        discussion: "Asks the hub for the model's file list at the revision, downloads what the cache lacks "
            + "(resuming partial downloads), and prints the snapshot folder. Files already cached are not "
            + "downloaded again. --include/--exclude take shell patterns (* also matches /).",
        arguments: [
            .positional("model", help: "A hub id org/name."),
            ModelOptions.revisionSpec,
            .option("--include", value: "GLOB", help: "Only files matching GLOB (repeatable).", repeatable: true),
            .option("--exclude", value: "GLOB", help: "Skip files matching GLOB (repeatable).", repeatable: true),
            ModelOptions.cacheDirSpec,
        ],
        examples: [
            "vigil models pull HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
            "vigil models pull HuggingFaceTB/SmolVLM2-256M-Video-Instruct --exclude 'onnx/*'",
        ])

    let model: String
    let revision: String
    let include: [String]
    let exclude: [String]
    let cacheDirectory: String?

    init(_ arguments: ParsedArguments) throws {
        model = try arguments.required("model")
        revision = arguments.value("--revision") ?? ModelLocation.defaultRevision
        include = arguments.values("--include")
        exclude = arguments.values("--exclude")
        cacheDirectory = arguments.value("--cache-dir")
        guard ModelLocation.isRepoID(model) else {
            throw ValidationError("'\(model)' is not a hub id: give it as org/name")
        }
        do {
            try ModelLocation.validate(revision: revision)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let environment = try HubEnvironment.fromProcess(cacheDirectory: cacheDirectory)
        let resolver = ModelResolver(environment: environment)
        let folder = try await resolver.pull(repo: model, revision: revision, include: include, exclude: exclude)
        Console.outLine(folder.path)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

// `vigil models` (placeholder until its issue lands).

/// `vigil models list|path|pull`.
struct ModelsCommand: VigilCommandGroup {
    static let name = "models"
    static let abstract = "Not available yet."
    static let subcommands: [any VigilCommand.Type] = []
}

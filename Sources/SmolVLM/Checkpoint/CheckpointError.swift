// The one error type of checkpoint loading: every problem found in a model folder, reported together.

import VigilCore

/// A model that cannot be loaded, with every problem found (missing or mis-shaped tensors, bad JSON, an unsupported
/// model type, a truncated file…), each naming its file and key.
public struct CheckpointError: UserFacingError {
    /// The model folder or file.
    public var location: String
    /// One line per problem.
    public var problems: [String]
    /// What to do about it.
    public var hint: String

    public init(location: String, problems: [String], hint: String = "") {
        self.location = location
        self.problems = problems
        self.hint = hint
    }

    public var description: String {
        var text = "cannot load the model at \(location): "
        if problems.count == 1 {
            text += problems[0]
        } else {
            text += "\(problems.count) problems:"
            for p in problems.prefix(20) { text += "\n  - " + p }
            if problems.count > 20 { text += "\n  - … and \(problems.count - 20) more" }
        }
        if !hint.isEmpty { text += "\n" + hint }
        return text
    }
}

// Chat templates from `tokenizer.chat_template`, recognised rather than interpreted: Vigil has no Jinja engine. A
// template is matched against the known ChatML shapes and rendered by code that produces the same string
// transformers' `apply_chat_template` does (checked against the goldens of scripts/fixtures/make_gguf_goldens.py).
// An unknown template throws, so a model never runs with a prompt format it was not trained on.
//
// ChatML, as SmolLM2-Instruct writes it (newlines inside the Jinja string literals are real newlines):
//   {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
//   <DEFAULT SYSTEM MESSAGE><|im_end|>
//   ' }}{% endif %}{{'<|im_start|>' + message['role'] + '
//   ' + message['content'] + '<|im_end|>' + '
//   '}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
//   ' }}{% endif %}
// and the same without the `{% if loop.first … %}…{% endif %}` part (no default system message).

/// A chat prompt format Vigil can render.
public enum GGUFChatTemplate: Sendable, Equatable {
    /// `<|im_start|>role\ncontent<|im_end|>\n` per message; when the first message is not a system message,
    /// `defaultSystemMessage` (if any) is put before it as one.
    case chatML(defaultSystemMessage: String?)

    private static let loopStart = "{% for message in messages %}"
    private static let systemStart =
        "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    private static let systemEnd = "<|im_end|>\n' }}{% endif %}"
    private static let messageAndEnd =
        "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

    /// Recognises `template` (the text of `tokenizer.chat_template` in the file at `path`).
    public init(recognizing template: String, path: String) throws {
        // Jinja renders a trailing newline after the last tag; llama.cpp's converter sometimes leaves one.
        var rest = Substring(template.hasSuffix("\n") ? String(template.dropLast()) : template)
        if rest.hasPrefix(Self.loopStart) {
            rest = rest.dropFirst(Self.loopStart.count)
            var system: String?
            if rest.hasPrefix(Self.systemStart) {
                rest = rest.dropFirst(Self.systemStart.count)
                if let end = rest.range(of: Self.systemEnd) {
                    let text = String(rest[..<end.lowerBound])
                    // A plain literal only: quotes, backslashes or Jinja syntax would need an interpreter.
                    if !text.contains(where: { "'\\{}".contains($0) }) {
                        system = text
                        rest = rest[end.upperBound...]
                    }
                }
                if system == nil { rest = "" }  // not the known shape: fall through to the error
            }
            if rest == Self.messageAndEnd {
                self = .chatML(defaultSystemMessage: system)
                return
            }
        }
        let excerpt = template.count > 120 ? template.prefix(120) + "…" : Substring(template)
        throw GGUFError(
            .unsupportedChatTemplate, path: path,
            "tokenizer.chat_template is not a template Vigil knows (it recognises SmolLM2's ChatML templates): "
                + "\(excerpt.debugDescription); use a SmolLM2 GGUF or give the prompt already formatted")
    }

    /// The prompt for `messages`, followed by the assistant's header when `addGenerationPrompt` is set.
    public func render(messages: [(role: String, content: String)], addGenerationPrompt: Bool) -> String {
        switch self {
        case .chatML(let defaultSystemMessage):
            var prompt = ""
            if let defaultSystemMessage, let first = messages.first, first.role != "system" {
                prompt += "<|im_start|>system\n\(defaultSystemMessage)<|im_end|>\n"
            }
            for message in messages {
                prompt += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n"
            }
            if addGenerationPrompt { prompt += "<|im_start|>assistant\n" }
            return prompt
        }
    }
}

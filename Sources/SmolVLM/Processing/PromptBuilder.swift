// SmolVLM2 prompts built in code, equal to what transformers 5.24 `SmolVLMProcessor` renders (no Jinja).
//
// Ports, from models/smolvlm/processing_smolvlm.py:
// - `DEFAULT_CHAT_TEMPLATE`: "<|im_start|>" once, then per message `Role` (capitalised) + ":" when the first
//   content item is an image, else ": "; the items (text verbatim, image → "<image>", video → "<video>");
//   "<end_of_utterance>\n". With a generation prompt, "Assistant:" (no space, no newline) ends the string.
// - `get_image_prompt_string`: "<image>" becomes, for an R×C split image,
//     per row r, per column c: "<fake_token_around_image><row_r_col_c>" + "<image>"×seq; "\n" after every row;
//     then "\n<fake_token_around_image><global-img>" + "<image>"×seq + "<fake_token_around_image>"
//   or, unsplit (R = C = 0), "<fake_token_around_image><global-img>" + "<image>"×seq + "<fake_token_around_image>".
// - `replace_video_token`: "<video>" becomes
//     "You are provided the following series of {num2words(N)} frames from a {H:MM:SS} [H:MM:SS] video.\n"
//     + per frame "\nFrame from {MM:SS}:" + the unsplit image block, + "\n\n"
//   with H:MM:SS = str(timedelta(seconds=int(duration))) and MM:SS = int(t // 60), int(t % 60), zero-padded to 2.
//
// The result is one string for the tokenizer; "<image>" and the other markers are special tokens it matches
// verbatim. Tokenize the whole string: "\n" + "\n" at a row end merges into the single token "\n\n".

/// Builds SmolVLM2 chat prompts with expanded image and video blocks.
public enum PromptBuilder {
    /// Placeholder token replaced by one frame feature each.
    public static let imageToken = "<image>"
    /// Bracket around each frame's tokens.
    public static let fakeTokenAroundImage = "<fake_token_around_image>"
    /// Marker of a global (whole-image or video) frame.
    public static let globalImageToken = "<global-img>"
    /// End of a chat turn (also the generation stop token).
    public static let endOfUtterance = "<end_of_utterance>"
    /// Start of the conversation.
    public static let beginOfConversation = "<|im_start|>"

    /// One item of a message's content.
    public enum Content: Sendable, Equatable {
        /// Text, inserted verbatim.
        case text(String)
        /// A still image processed into `rows × cols` tiles (0 × 0 when not split).
        case image(rows: Int, cols: Int)
        /// Video frames taken at `timestamps` (seconds) from a video lasting `duration` seconds.
        case video(timestamps: [Double], duration: Double)
    }

    /// One chat message.
    public struct Message: Sendable, Equatable {
        /// "user", "assistant" or "system"; written capitalised.
        public var role: String
        /// The items, in order.
        public var content: [Content]

        /// A message from `role` with `content`.
        public init(role: String, content: [Content]) {
            self.role = role
            self.content = content
        }
    }

    /// A one-turn prompt: the image first, then `text`, then the generation prompt.
    ///
    /// `<|im_start|>User:<image block>TEXT<end_of_utterance>\nAssistant:`
    public static func imagePrompt(text: String, rows: Int, cols: Int, imageSeqLen: Int) -> String {
        chat([Message(role: "user", content: [.image(rows: rows, cols: cols), .text(text)])], imageSeqLen: imageSeqLen)
    }

    /// A one-turn prompt: the video first, then `text`, then the generation prompt.
    ///
    /// `<|im_start|>User: <video block>TEXT<end_of_utterance>\nAssistant:`
    public static func videoPrompt(text: String, timestamps: [Double], duration: Double, imageSeqLen: Int) -> String {
        chat(
            [Message(role: "user", content: [.video(timestamps: timestamps, duration: duration), .text(text)])],
            imageSeqLen: imageSeqLen)
    }

    /// The rendered conversation (the processor's chat template with media expanded).
    public static func chat(_ messages: [Message], imageSeqLen: Int, addGenerationPrompt: Bool = true) -> String {
        var out = beginOfConversation
        for message in messages {
            out += capitalized(message.role)
            if case .image = message.content.first {
                out += ":"
            } else {
                out += ": "
            }
            for item in message.content {
                switch item {
                case .text(let text):
                    out += text
                case .image(let rows, let cols):
                    out += imageBlock(rows: rows, cols: cols, imageSeqLen: imageSeqLen)
                case .video(let timestamps, let duration):
                    out += videoBlock(timestamps: timestamps, duration: duration, imageSeqLen: imageSeqLen)
                }
            }
            out += endOfUtterance + "\n"
        }
        if addGenerationPrompt { out += "Assistant:" }
        return out
    }

    /// What one image's `<image>` placeholder expands to.
    public static func imageBlock(rows: Int, cols: Int, imageSeqLen: Int) -> String {
        let tokens = String(repeating: imageToken, count: imageSeqLen)
        let global = globalImageToken + tokens + fakeTokenAroundImage
        if rows == 0 && cols == 0 {
            return fakeTokenAroundImage + global
        }
        var out = ""
        for r in 0..<rows {
            for c in 0..<cols {
                out += fakeTokenAroundImage + "<row_\(r + 1)_col_\(c + 1)>" + tokens
            }
            out += "\n"
        }
        return out + "\n" + fakeTokenAroundImage + global
    }

    /// What one video's `<video>` placeholder expands to.
    public static func videoBlock(timestamps: [Double], duration: Double, imageSeqLen: Int) -> String {
        let seconds = Int(clampedSeconds(duration))
        var out =
            "You are provided the following series of \(NumberWords.english(timestamps.count)) frames from a "
            + "\(timedelta(seconds: seconds)) [H:MM:SS] video.\n"
        let frame = imageBlock(rows: 0, cols: 0, imageSeqLen: imageSeqLen)
        for t in timestamps {
            let (minutes, secondsPart) = PythonNumerics.divmod(clampedSeconds(t), 60)
            out += "\nFrame from \(twoDigits(Int(minutes))):\(twoDigits(Int(secondsPart))):" + frame
        }
        return out + "\n\n"
    }

    // MARK: - Python formatting

    /// The longest span Python's `timedelta` holds (999,999,999 days), in seconds.
    static let maximumSeconds = 86_399_999_999_999.0

    /// A media time as the prompt can show it: NaN and infinities are 0, and times from a damaged file beyond
    /// ±`maximumSeconds` (where Python itself would fail) are clamped, so formatting never overflows.
    static func clampedSeconds(_ t: Double) -> Double {
        t.isFinite ? min(max(t, -maximumSeconds), maximumSeconds) : 0
    }

    /// Python `str.capitalize`: first character upper case, the rest lower case.
    static func capitalized(_ s: String) -> String {
        guard let first = s.first else { return s }
        return first.uppercased() + s.dropFirst().lowercased()
    }

    /// `f"{n:02d}"`.
    static func twoDigits(_ n: Int) -> String {
        (0..<10).contains(n) ? "0\(n)" : "\(n)"
    }

    /// `str(timedelta(seconds=s))`: "H:MM:SS", with "N day(s), " in front from 24 hours on.
    public static func timedelta(seconds: Int) -> String {
        let days = Int((Double(seconds) / 86400).rounded(.down))
        let rest = seconds - days * 86400
        let clock = "\(rest / 3600):\(pad(rest % 3600 / 60)):\(pad(rest % 60))"
        if days == 0 { return clock }
        return "\(days) day\(abs(days) == 1 ? "" : "s"), " + clock
    }

    private static func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

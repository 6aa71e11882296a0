// Fuzz harness: prompt building. Parts: a GGUF `tokenizer.chat_template` (recognised, then rendered), the messages
// as alternating role and content lines, and binary numbers for a SmolVLM prompt: tile rows and columns (0…4, as
// the image processor makes them), image tokens per frame, then a video duration and frame times as raw doubles —
// they come from media files, so any value is possible.

import SmolVLM

enum ChatTemplateHarness {
    static func run(_ input: [UInt8]) {
        let parts = FuzzInput.parts(input, count: 3)
        let lines = FuzzInput.text(parts[1]).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var messages: [(role: String, content: String)] = []
        for index in stride(from: 0, to: lines.count - 1, by: 2) where messages.count < 64 {
            messages.append((lines[index], lines[index + 1]))
        }
        if let template = try? GGUFChatTemplate(
            recognizing: FuzzInput.text(parts[0]), path: "fuzz.gguf")
        {
            for generation in [false, true] { _ = template.render(messages: messages, addGenerationPrompt: generation) }
        }

        var numbers = FuzzInput.Numbers(parts[2])
        let rows = Int(numbers.byte() % 5)
        let cols = rows == 0 ? 0 : Int(numbers.byte() % 4) + 1
        let imageSeqLen = Int(numbers.byte() % 17)
        let duration = numbers.double()
        var timestamps: [Double] = []
        while !numbers.isEmpty, timestamps.count < 32 { timestamps.append(numbers.double()) }
        var chat: [PromptBuilder.Message] = messages.map {
            PromptBuilder.Message(role: $0.role, content: [.text($0.content)])
        }
        chat.append(
            PromptBuilder.Message(
                role: "user",
                content: [
                    .image(rows: rows, cols: cols), .video(timestamps: timestamps, duration: duration),
                    .text(lines.first ?? ""),
                ]))
        _ = PromptBuilder.chat(chat, imageSeqLen: imageSeqLen)
        _ = PromptBuilder.videoPrompt(
            text: lines.last ?? "", timestamps: timestamps, duration: duration, imageSeqLen: imageSeqLen)
    }
}

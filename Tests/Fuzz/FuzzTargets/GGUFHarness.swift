// Fuzz harness: GGUF files. The input is a whole file: header, metadata values, tensor infos and data. Every tensor
// small enough is dequantised (truncated data must be caught by the bounds checks), then the file is loaded as a
// Llama checkpoint, and when that works its tokenizer encodes and decodes a little text and its chat template is
// rendered.

import Foundation
import SmolVLM
import Tokenization

enum GGUFHarness {
    static func run(_ input: [UInt8]) {
        let url = Scratch.write(input, to: "model.gguf", in: Scratch.emptyFolder("gguf"))
        guard let file = try? GGUFFile(contentsOf: url) else { return }
        for key in file.metadataKeys.prefix(256) {
            let value = file.metadata[key]
            _ = value?.integer
            _ = value?.strings
            _ = value?.integers
            _ = value?.typeDescription
        }
        for info in file.tensors.prefix(256) where info.type.isDequantizable && info.byteCount <= 1 << 22 {
            _ = try? file.loadTensor(info)
        }
        guard let checkpoint = try? GGUFLlamaCheckpoint(file: file) else { return }
        if let tokenizer = try? checkpoint.makeTokenizer() {
            let ids = tokenizer.encode("Hello, world! 123 <|im_start|>user\nÀ la carte\u{1F600}")
            _ = tokenizer.decode(ids + [-1, tokenizer.vocabularySize, Int.max])
        }
        _ = try? checkpoint.chatPrompt(
            messages: [(role: "user", content: "Hi")], addGenerationPrompt: true)
    }
}

// PromptBuilder against prompts rendered by transformers 5.24 `SmolVLMProcessor` (chat template + media expansion).

import Foundation
import Testing

@testable import SmolVLM

@Suite struct PromptBuilderTests {}

extension PromptBuilderTests {
    @Test func matchesTheProcessorOnEveryGoldenPrompt() throws {
        let goldens = try PreprocessGoldens.load()
        #expect(goldens.cases.prompts.count >= 10)
        for c in goldens.cases.prompts {
            let messages = c.messages.map { message in
                PromptBuilder.Message(
                    role: message.role,
                    content: message.content.map { item -> PromptBuilder.Content in
                        switch item.type {
                        case "image": return .image(rows: c.rows ?? 0, cols: c.cols ?? 0)
                        case "video": return .video(timestamps: c.timestamps ?? [], duration: c.duration ?? 0)
                        default: return .text(item.text ?? "")
                        }
                    })
            }
            let prompt = PromptBuilder.chat(messages, imageSeqLen: 64)
            #expect(
                prompt == c.prompt, "\(c.name)\n--- got\n\(prompt.prefix(600))\n--- expected\n\(c.prompt.prefix(600))")
            let imageTokens = prompt.components(separatedBy: PromptBuilder.imageToken).count - 1
            #expect(imageTokens == c.imageTokenCount, "\(c.name)")
        }
    }

    @Test func oneTurnHelpersMatchTheGoldens() throws {
        let goldens = try PreprocessGoldens.load()
        let byName = Dictionary(uniqueKeysWithValues: goldens.cases.prompts.map { ($0.name, $0) })
        let split = try #require(byName["image_split_640x480"])
        #expect(split.rows == 3 && split.cols == 4 && split.tokenCount == 876)
        #expect(
            PromptBuilder.imagePrompt(text: "Can you describe this image?", rows: 3, cols: 4, imageSeqLen: 64)
                == split.prompt)
        let unsplit = try #require(byName["image_unsplit_640x480"])
        #expect(unsplit.tokenCount == 81)
        #expect(
            PromptBuilder.imagePrompt(text: "Can you describe this image?", rows: 0, cols: 0, imageSeqLen: 64)
                == unsplit.prompt)
        let video = try #require(byName["video_3_frames"])
        #expect(video.tokenCount == 274 && video.imageTokenCount == 192)
        let indices = VideoFrameSampler.indices(totalFrames: 90, sourceFPS: 30, fps: 1, maxFrames: 64)
        let prompt = PromptBuilder.videoPrompt(
            text: "Describe this video.", timestamps: VideoFrameSampler.timestamps(indices: indices, sourceFPS: 30),
            duration: 3, imageSeqLen: 64)
        #expect(prompt == video.prompt)
        #expect(
            prompt.hasPrefix("<|im_start|>User: You are provided the following series of three frames from a 0:00:03"))
    }

    @Test func timeFormatsFollowPython() {
        #expect(PromptBuilder.timedelta(seconds: 3) == "0:00:03")
        #expect(PromptBuilder.timedelta(seconds: 100) == "0:01:40")
        #expect(PromptBuilder.timedelta(seconds: 86_400) == "1 day, 0:00:00")
        #expect(PromptBuilder.timedelta(seconds: 2 * 86_400 + 3_723) == "2 days, 1:02:03")
        #expect(PromptBuilder.capitalized("user") == "User" && PromptBuilder.capitalized("ASSISTANT") == "Assistant")
    }
}

// Frame selection, prompts and number words against transformers 5.24 / num2words goldens.

import Foundation
import Testing

@testable import SmolVLM

@Suite struct VideoFrameSamplerTests {}

extension VideoFrameSamplerTests {
    @Test func matchesSampleFramesOnEveryGoldenCase() throws {
        let goldens = try PreprocessGoldens.load()
        #expect(goldens.cases.sampler.count >= 30)
        for c in goldens.cases.sampler {
            let indices = VideoFrameSampler.indices(
                totalFrames: c.totalFrames, sourceFPS: c.sourceFPS, fps: c.fps, maxFrames: c.maxFrames)
            let label = "\(c.totalFrames) frames @\(c.sourceFPS), fps \(c.fps), max \(c.maxFrames)"
            #expect(indices == c.indices, "\(label)")
            #expect(VideoFrameSampler.timestamps(indices: indices, sourceFPS: c.sourceFPS) == c.timestamps, "\(label)")
            #expect(Double(c.totalFrames) / c.sourceFPS == c.duration, "\(label)")
        }
    }

    @Test func briefExamples() {
        #expect(VideoFrameSampler.indices(totalFrames: 90, sourceFPS: 30, fps: 1, maxFrames: 64) == [0, 44, 89])
        #expect(VideoFrameSampler.indices(totalFrames: 900, sourceFPS: 30, fps: 1, maxFrames: 64).count == 30)
        let long = VideoFrameSampler.indices(totalFrames: 2500, sourceFPS: 25, fps: 1, maxFrames: 64)
        #expect(long.count == 64 && long.first == 25 && long.last == 2475)
    }

    @Test func roundsHalfToEven() {
        // 75 frames at 30 fps = 2.5 s → round(2.5) = 2 frames; 45 frames = 1.5 s → 2 frames.
        #expect(VideoFrameSampler.indices(totalFrames: 75, sourceFPS: 30, fps: 1, maxFrames: 64).count == 2)
        #expect(VideoFrameSampler.indices(totalFrames: 45, sourceFPS: 30, fps: 1, maxFrames: 64).count == 2)
        #expect(PythonNumerics.round(0.5) == 0 && PythonNumerics.round(1.5) == 2 && PythonNumerics.round(-2.5) == -2)
    }

    @Test func emptyOrBrokenVideosGiveNoFrames() {
        #expect(VideoFrameSampler.indices(totalFrames: 0, sourceFPS: 30, fps: 1, maxFrames: 64).isEmpty)
        #expect(VideoFrameSampler.indices(totalFrames: 10, sourceFPS: 0, fps: 1, maxFrames: 64).isEmpty)
        #expect(VideoFrameSampler.indices(totalFrames: 10, sourceFPS: .nan, fps: 1, maxFrames: 64).isEmpty)
        #expect(VideoFrameSampler.indices(totalFrames: 1, sourceFPS: 30, fps: 1, maxFrames: 64) == [0])
    }

    @Test func pythonFloorDivisionAndModulo() {
        #expect(PythonNumerics.divmod(125.5, 60) == (2, 5.5))
        #expect(PythonNumerics.divmod(-1, 60) == (-1, 59))
        #expect(PythonNumerics.divmod(59.999, 60).quotient == 0)
        #expect(PythonNumerics.linspace(25, 2475, 64).first == 25 && PythonNumerics.linspace(25, 2475, 64).last == 2475)
        #expect(PythonNumerics.linspace(3, 3, 1) == [3])
    }
}

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
            #expect(prompt == c.prompt, "\(c.name)\n--- got\n\(prompt.prefix(600))\n--- expected\n\(c.prompt.prefix(600))")
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
        #expect(prompt.hasPrefix("<|im_start|>User: You are provided the following series of three frames from a 0:00:03"))
    }

    @Test func timeFormatsFollowPython() {
        #expect(PromptBuilder.timedelta(seconds: 3) == "0:00:03")
        #expect(PromptBuilder.timedelta(seconds: 100) == "0:01:40")
        #expect(PromptBuilder.timedelta(seconds: 86_400) == "1 day, 0:00:00")
        #expect(PromptBuilder.timedelta(seconds: 2 * 86_400 + 3_723) == "2 days, 1:02:03")
        #expect(PromptBuilder.capitalized("user") == "User" && PromptBuilder.capitalized("ASSISTANT") == "Assistant")
    }
}

@Suite struct NumberWordsTests {}

extension NumberWordsTests {
    @Test func matchesNum2wordsOnEveryGoldenNumber() throws {
        let goldens = try PreprocessGoldens.load()
        #expect(goldens.cases.numberWords.count > 1100)
        for c in goldens.cases.numberWords {
            #expect(NumberWords.english(c.number) == c.words, "\(c.number)")
        }
    }

    @Test func examples() {
        #expect(NumberWords.english(64) == "sixty-four")
        #expect(NumberWords.english(3) == "three")
        #expect(NumberWords.english(0) == "zero")
        #expect(NumberWords.english(101) == "one hundred and one")
        #expect(NumberWords.english(9999) == "nine thousand, nine hundred and ninety-nine")
    }
}

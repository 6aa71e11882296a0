// MediaLimits: a file that declares pictures larger than 8192×8192 is refused before its decoder opens (nothing of
// that size is allocated), with an error naming the file and the size; the limits are generous enough for 8K.

import Foundation
import MediaIngest
import Testing
import TestSupport

@Suite struct MediaLimitsTests {
    /// A raw YUV4MPEG2 file whose header declares `width`×`height` pictures, followed by `bytes` bytes of one frame.
    static func y4m(width: Int, height: Int, bytes: Int = 4096) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-limits-\(UUID()).y4m").path
        let header = "YUV4MPEG2 W\(width) H\(height) F25:1 Ip A1:1 C420jpeg\nFRAME\n"
        try (Data(header.utf8) + Data(repeating: 0x80, count: bytes)).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("a picture larger than MediaLimits.maxPixels is refused, naming the file and the size")
    func oversizedPicture() throws {
        let path = try Self.y4m(width: 8200, height: 8200)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = try #require(throws: MediaError.self) { try VideoClip.frames(path, atIndices: [0]) }
        #expect(error.code == "limit_exceeded")
        #expect(error.description.contains(path))
        #expect(error.description.contains("declares 8200×8200 pictures, more than the 67108864 pixels"))
        let image = try #require(throws: MediaError.self) { try ImageFile.load(path) }
        #expect(image.code == "limit_exceeded")
    }

    @Test("a picture within the limit decodes as usual")
    func pictureWithinTheLimit() throws {
        let path = try Self.y4m(width: 64, height: 48, bytes: 64 * 48 * 3 / 2)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let frames = try VideoClip.frames(path, atIndices: [0])
        #expect(frames.count == 1 && frames[0].image.width == 64 && frames[0].image.height == 48)
        #expect(MediaLimits.maxPixels >= 7680 * 4320)  // 8K UHD
    }
}

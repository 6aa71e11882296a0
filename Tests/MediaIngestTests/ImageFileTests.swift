// Still images: PNG written atomically by FFmpeg's encoder and read back exactly; JPEG read upright, also with an
// EXIF orientation; the errors for missing files, non-images and unwritable paths.

import Foundation
import MediaIngest
import TestSupport
import Testing
import VigilCore

@Suite struct ImageFileTests {
    /// A 7×5 picture with a distinct colour per pixel.
    static let pattern = RGBImage(
        width: 7, height: 5, pixels: (0..<(7 * 5 * 3)).map { UInt8(($0 * 37) % 256) })

    /// Inserts an EXIF APP1 segment with Orientation = `value` right after the JPEG's SOI marker.
    static func withEXIFOrientation(_ jpeg: Data, _ value: UInt8) -> Data {
        let exif: [UInt8] = [
            0xFF, 0xE1, 0x00, 0x22, 0x45, 0x78, 0x69, 0x66, 0x00, 0x00,  // APP1, length 34, "Exif\0\0"
            0x4D, 0x4D, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08,  // big-endian TIFF header, IFD0 at 8
            0x00, 0x01,  // one entry
            0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, value, 0x00, 0x00,  // Orientation, SHORT, 1
            0x00, 0x00, 0x00, 0x00,  // no next IFD
        ]
        var out = Data(jpeg.prefix(2))
        out.append(contentsOf: exif)
        out.append(jpeg.dropFirst(2))
        return out
    }
}

extension ImageFileTests {
    @Test func pngRoundTripsExactly() throws {
        let folder = try MediaFixtures.scratchDirectory("png")
        let path = folder.appendingPathComponent("pattern.png").path
        try ImageFile.writePNG(Self.pattern, to: path)
        #expect(try ImageFile.load(path) == Self.pattern)
        // Overwriting is atomic: no temporary file is left behind.
        try ImageFile.writePNG(Self.pattern, to: path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["pattern.png"])
    }

    @Test func jpegLoadsUpright() throws {
        let folder = try MediaFixtures.scratchDirectory("jpeg")
        let path = folder.appendingPathComponent("quad.jpg").path
        try MediaFixtures.ffmpeg(["-i", try MediaFixtures.path(.quadrants), "-frames:v", "1", "-q:v", "2", path])
        let image = try ImageFile.load(path)
        #expect(image.width == 320 && image.height == 240)
        expectUprightQuadrants(image, "jpeg")
    }

    @Test func exifOrientationIsApplied() throws {
        let folder = try MediaFixtures.scratchDirectory("exif")
        let turned = folder.appendingPathComponent("turned.jpg").path
        // Stored turned counter-clockwise; EXIF 6 says "turn 90° clockwise to display".
        try MediaFixtures.ffmpeg([
            "-i", try MediaFixtures.path(.quadrants), "-vf", "transpose=cclock", "-frames:v", "1", "-q:v", "2", turned,
        ])
        let tagged = folder.appendingPathComponent("tagged.jpg").path
        try Self.withEXIFOrientation(try Data(contentsOf: URL(fileURLWithPath: turned)), 6)
            .write(to: URL(fileURLWithPath: tagged))
        let image = try ImageFile.load(tagged)
        #expect(image.width == 320 && image.height == 240)
        expectUprightQuadrants(image, "exif 6")
    }

    @Test func errorsNameThePath() throws {
        #expect(throws: MediaError.fileNotFound(path: "/no/such/image.png")) {
            try ImageFile.load("/no/such/image.png")
        }
        let text = try MediaFixtures.path(.textFile)
        #expect {
            try ImageFile.load(text)
        } throws: { error in
            guard case MediaError.notAnImage(let path, _) = error else { return false }
            return path == text
        }
        #expect {
            try ImageFile.writePNG(Self.pattern, to: "/no/such/folder/x.png")
        } throws: { error in
            guard case MediaError.writeFailed(let path, _) = error else { return false }
            return path == "/no/such/folder/x.png"
        }
    }
}

// Fuzz harnesses: the feature memory's files, read back when a session resumes. `synopsis-state` restores a saved
// synopsis (SynopsisState's binary form; the harness makes its CRC-32C hold so the fuzzer reaches the fields behind
// it), updates it with two frames and checks that saving and restoring again is stable. `feature-bank` reopens a
// bank folder of 2×2-token frames: parts are the first segment file, the second one and thinning.jsonl; when the
// first byte of the first part is odd the harness makes every checksum of the segments hold. It then reads every
// frame the bank kept and appends one.

import Foundation
import Memory

enum SynopsisStateHarness {
    static func run(_ input: [UInt8]) {
        var bytes = input
        if bytes.count >= 12 {
            let crc = CRC32C.checksum(bytes[..<(bytes.count - 4)])
            withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((bytes.count - 4)..., with: $0) }
        }
        guard let state = try? SynopsisState(serialized: bytes), var synopsis = try? Synopsis(restoring: state)
        else { return }
        let geometry = state.geometry
        if geometry.frameValueCount <= 1 << 16 {
            var id = (state.lastFrameID ?? -1)
            for step in 0..<2 where id < Int.max {
                id += 1
                let tokens = (0..<geometry.frameValueCount).map { Float(($0 &* 31 &+ step) % 17) / 8 - 1 }
                synopsis.add(id: id, time: Double(id), features: FrameFeatures(tokens: tokens, geometry: geometry))
            }
        }
        let saved = synopsis.state.serialized()
        guard let again = try? SynopsisState(serialized: saved) else {
            preconditionFailure("a saved synopsis state does not restore")
        }
        precondition(again.serialized() == saved, "a restored synopsis state saves different bytes")
    }
}

enum FeatureBankHarness {
    /// The geometry of the bank's frames: 4 tokens (2×2) of 4 values.
    private static let geometry = try! FeatureGeometry(tokenCount: 4, hiddenSize: 4)
    // Record layout for this geometry (FeatureBankFile.swift): 32-byte header, g_f 16 B, k_f 8 B, E_f 32 B.
    private static let recordSize = 88
    private static let keyOffset = 48
    private static let tokensOffset = 56

    static func run(_ input: [UInt8]) {
        let parts = FuzzInput.parts(input, count: 3)
        let fixesChecksums = (parts[0].first ?? 0) & 1 == 1
        let folder = Scratch.emptyFolder("feature-bank")
        for (index, part) in parts.prefix(2).enumerated() where !part.isEmpty {
            let segment = fixesChecksums ? withChecksums(part) : part
            Scratch.write(segment, to: "frames-0000000\(index).vfb", in: folder)
        }
        if !parts[2].isEmpty { Scratch.write(parts[2], to: "thinning.jsonl", in: folder) }

        var configuration = FeatureBank.Configuration(
            geometry: geometry, ramSeconds: 4, directory: folder.path, segmentFrameCount: 4)
        configuration.syncInterval = 0
        var recovered: [Int] = []
        guard let bank = try? FeatureBank(configuration, recovered: { id, _, _ in recovered.append(id) }) else {
            return
        }
        let view = bank.view
        for id in recovered.prefix(64) {
            guard let frame = try? view.frame(id: id) else { continue }
            _ = frame.tokens()
            _ = frame.key()
            _ = frame.globalKey()
        }
        _ = view.frame(nearest: 1e6, notAfter: 1e6)
        _ = view.newestFrames(count: 8, notAfter: .infinity)
        if let newest = view.newest, newest.id < Int.max, newest.time < 1e300 {
            let tokens = (0..<geometry.frameValueCount).map { Float($0) / 16 }
            _ = try? bank.append(
                id: newest.id + 1, time: newest.time + 1, features: FrameFeatures(tokens: tokens, geometry: geometry))
        }
        bank.close()
    }

    /// `segment` with its header checksum and every whole record's checksums recomputed.
    private static func withChecksums(_ segment: [UInt8]) -> [UInt8] {
        var bytes = segment
        func store(_ value: UInt32, at offset: Int) {
            withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + 4, with: $0) }
        }
        guard bytes.count >= 64 else { return bytes }
        store(CRC32C.checksum(bytes[0..<60]), at: 60)
        var record = 64
        while record + recordSize <= bytes.count {
            store(CRC32C.checksum(bytes[(record + keyOffset)..<(record + tokensOffset)]), at: record + 24)
            store(CRC32C.checksum(bytes[(record + tokensOffset)..<(record + recordSize)]), at: record + 28)
            let header = CRC32C.checksum(bytes[(record + 8)..<(record + 32)])
            store(CRC32C.checksum(bytes[(record + 32)..<(record + keyOffset)], continuing: header), at: record + 4)
            record += recordSize
        }
        return bytes
    }
}

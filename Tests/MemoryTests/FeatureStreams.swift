// Synthetic feature streams for the feature memory's tests: frames of Gaussian "scenes" (each scene a random mean
// token grid, each frame that mean plus noise), from a seeded generator, so every run sees the same numbers.

import Foundation

@testable import Memory

/// A seeded generator of uniform and normal values (SplitMix64 + Box–Muller).
struct TestRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Standard normal.
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-300)
        let v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    mutating func normals(_ count: Int, scale: Double = 1) -> [Float] {
        (0..<count).map { _ in Float(normal() * scale) }
    }
}

/// A stream of frames drawn from scenes: `lengths[s]` frames of scene s, one frame per second from t = 0.
struct SceneStream {
    let geometry: FeatureGeometry
    let means: [[Float]]
    let lengths: [Int]
    let noise: Double
    private var random: TestRandom

    init(geometry: FeatureGeometry, lengths: [Int], noise: Double = 0.3, separation: Double = 1, seed: UInt64 = 1) {
        self.geometry = geometry
        self.lengths = lengths
        self.noise = noise
        random = TestRandom(seed: seed)
        var meanRandom = TestRandom(seed: seed ^ 0xA5A5)
        means = lengths.map { _ in meanRandom.normals(geometry.frameValueCount, scale: separation) }
    }

    /// The scene of frame `index`.
    func scene(of index: Int) -> Int {
        var remaining = index
        for (scene, length) in lengths.enumerated() {
            if remaining < length { return scene }
            remaining -= length
        }
        return lengths.count - 1
    }

    var frameCount: Int { lengths.reduce(0, +) }

    /// The tokens of frame `index` (frames must be drawn in order for reproducible noise).
    mutating func tokens(_ index: Int) -> [Float] {
        let mean = means[scene(of: index)]
        return mean.map { $0 + Float(random.normal() * noise) }
    }
}

/// A fresh temporary folder, removed by `remove()`.
struct TemporaryFolder {
    let path: String

    init(_ name: String = "featmem") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { URL(fileURLWithPath: path).appendingPathComponent(name).path }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// fp16 rounding of a float the way the bank stores it (saturating at ±65504).
func storedHalf(_ value: Float) -> Float { Float(Float16(min(max(value, -65504), 65504))) }

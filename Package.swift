// swift-tools-version:6.0
//
// Vigil: streaming video understanding on the CPU. No Swift package dependencies: the toolchain, and C system
// libraries through system library targets (FFmpeg, oneDNN). Dependencies point one way, top to bottom:
//
//   CFFmpeg ─────────────► MediaIngest ─────────────────────┐
//   CDNNL, CKernels ─────► Kernels ─────┐                   │
//   VigilCore ──► Tokenization, ModelHub ──► SmolVLM ──► Streaming ──► VigilCLI ──► vigil
//   CFeatureKernels, VigilCore ──► Memory ───────────────────┘
//
//   Streaming: the live engine (sessions, block KV cache, STC-Pruner, retrieval store, compute scheduler)
//   Memory: caption files, caption journal, BM25 text index, prompt budget; the feature memory (bank, synopsis,
//           detail frames, global-key search, snapshots) over CFeatureKernels
//
import PackageDescription

/// Our own C kernels are built optimised even in debug builds, so tests that run real-size matrices stay fast.
let optimisedC: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno", "-fno-trapping-math"])]

let package = Package(
    name: "Vigil",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "vigil", targets: ["vigil"])
    ],
    targets: [
        // MARK: - C system libraries and kernels
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]
        ),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .target(
            name: "CKernels",
            cSettings: optimisedC,
            linkerSettings: [.linkedLibrary("gomp"), .linkedLibrary("m")]
        ),
        // The feature memory's loops (fp16, reductions, key pooling, CRC-32C); no FMA contraction, so a restored
        // synopsis computes the same bits on every CPU.
        .target(name: "CFeatureKernels", cSettings: optimisedC + [.unsafeFlags(["-ffp-contract=off"])]),

        // MARK: - Libraries
        .target(name: "VigilCore"),
        .target(name: "MediaIngest", dependencies: ["CFFmpeg", "VigilCore"]),
        .target(name: "Kernels", dependencies: ["CDNNL", "CKernels", "VigilCore"]),
        .target(name: "Tokenization", dependencies: ["VigilCore"]),
        .target(name: "ModelHub", dependencies: ["VigilCore"]),
        .target(name: "Memory", dependencies: ["CFeatureKernels", "VigilCore"]),
        .target(name: "SmolVLM", dependencies: ["Kernels", "Tokenization", "ModelHub", "VigilCore"]),
        .target(name: "Streaming", dependencies: ["MediaIngest", "SmolVLM", "Kernels", "Tokenization", "VigilCore"]),
        .target(
            name: "VigilCLI",
            dependencies: ["Streaming", "MediaIngest", "SmolVLM", "Kernels", "ModelHub", "Tokenization", "VigilCore"]),
        .executableTarget(name: "vigil", dependencies: ["VigilCLI"]),

        // MARK: - Tests
        .target(name: "TestSupport", dependencies: ["Kernels", "VigilCore"], path: "Tests/TestSupport"),
        // Test-only: counts every allocation of the probe process (interposes malloc); never linked into vigil.
        .target(name: "CMallocCounter", path: "Tests/CMallocCounter"),
        .executableTarget(
            name: "AllocationProbe", dependencies: ["SmolVLM", "Kernels", "CMallocCounter"], path: "Tests/AllocationProbe"),
        // Test-only: appends to a caption journal until the crash test kills it (SIGKILL).
        .executableTarget(name: "JournalProbe", dependencies: ["Memory", "VigilCore"], path: "Tests/JournalProbe"),
        // Development only: prints FeatureMemoryBenchmark.run() as JSON (build it with -c release).
        .executableTarget(
            name: "FeatureMemoryBench", dependencies: ["Memory", "VigilCore"], path: "Tests/FeatureMemoryBench"),
        .testTarget(name: "VigilCoreTests", dependencies: ["VigilCore", "TestSupport"]),
        .testTarget(name: "MediaIngestTests", dependencies: ["MediaIngest", "TestSupport"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "TestSupport"]),
        .testTarget(name: "ModelHubTests", dependencies: ["ModelHub", "TestSupport", "vigil"]),
        .testTarget(name: "SmolVLMTests", dependencies: ["SmolVLM", "TestSupport", "AllocationProbe"]),
        .testTarget(name: "StreamingTests", dependencies: ["Streaming", "TestSupport"]),
        .testTarget(name: "MemoryTests", dependencies: ["Memory", "TestSupport", "JournalProbe"]),
        .testTarget(name: "VigilCLITests", dependencies: ["VigilCLI", "TestSupport", "vigil"]),
    ]
)

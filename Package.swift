// swift-tools-version:6.0
//
// Vigil: streaming video understanding on the CPU. No Swift package dependencies: the toolchain, and C system
// libraries through system library targets (FFmpeg, oneDNN, libedit, libmicrohttpd, OpenSSL's
// libcrypto, SQLite), plus Debian's header-only hnswlib behind a small C++ shim. Dependencies point one way, top to
// bottom:
//
//   CFFmpeg ─────────────► MediaIngest ─────────────────────┐
//   CDNNL, CKernels ─────► Kernels ─────┐                   │
//   VigilCore ──► Tokenization, ModelHub ──► SmolVLM ──► Streaming ──► VigilCLI ──► vigil
//   CFeatureKernels, CHNSW, VigilCore ──► Memory ──┬─────────┘
//   CSQLite ──► SessionStore ◄────────────────────┘ (persistent sessions; Streaming and VigilCLI use it)
//   CEdit ──► VigilCLI (the input line of vigil watch)
//   CCrypto ──► VigilCrypto (used by ModelHub, HTTPServer, OpenAIWire)
//   CMicroHTTPD, VigilCrypto, VigilCore ──► HTTPServer;  VigilCore, VigilCrypto ──► OpenAIWire
//   Streaming, Memory, HTTPServer, OpenAIWire, VigilCrypto ──► Server ──► VigilCLI (vigil serve)
//
//   Streaming: the live engine (sessions, block KV cache, STC-Pruner, retrieval store, compute scheduler)
//   Memory: caption files, caption journal, BM25 text index, prompt budget; the feature memory (bank, synopsis,
//           detail frames, global-key search exact then HNSW, snapshots) over CFeatureKernels and CHNSW
//   SessionStore: a named session's captions, summaries, synopsis state and standing questions in SQLite
//   Server: `vigil serve` (sources, questions, SSE, captioning jobs, alerts and webhooks, metrics, the web page)
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
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CEdit", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        .target(
            name: "CKernels",
            cSettings: optimisedC,
            linkerSettings: [.linkedLibrary("gomp"), .linkedLibrary("m")]
        ),
        // The feature memory's loops (fp16, reductions, key pooling, CRC-32C); no FMA contraction, so a restored
        // synopsis computes the same bits on every CPU.
        .target(name: "CFeatureKernels", cSettings: optimisedC + [.unsafeFlags(["-ffp-contract=off"])]),
        // hnswlib (Debian's header-only libhnswlib-dev) behind an opaque C API, no exception crossing it; baseline
        // x86-64 code with the distances through CFeatureKernels' multi-versioned dot product.
        .target(
            name: "CHNSW", dependencies: ["CFeatureKernels"],
            cxxSettings: [.unsafeFlags(["-O3", "-std=c++17", "-fno-math-errno"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),

        // MARK: - Libraries
        .target(name: "VigilCore"),
        .target(name: "MediaIngest", dependencies: ["CFFmpeg", "VigilCore"]),
        .target(name: "Kernels", dependencies: ["CDNNL", "CKernels", "VigilCore"]),
        .target(name: "Tokenization", dependencies: ["VigilCore"]),
        .target(name: "VigilCrypto", dependencies: ["CCrypto"]),
        .target(name: "ModelHub", dependencies: ["VigilCrypto", "VigilCore"]),
        .target(name: "Memory", dependencies: ["CFeatureKernels", "CHNSW", "VigilCore"]),
        .target(name: "SessionStore", dependencies: ["CSQLite", "Memory", "VigilCore"]),
        .target(name: "HTTPServer", dependencies: ["CMicroHTTPD", "VigilCrypto", "VigilCore"]),
        .target(name: "OpenAIWire", dependencies: ["VigilCrypto", "VigilCore"]),
        .target(name: "SmolVLM", dependencies: ["Kernels", "Tokenization", "ModelHub", "VigilCore"]),
        .target(
            name: "Streaming",
            dependencies: ["MediaIngest", "SmolVLM", "Memory", "SessionStore", "Kernels", "Tokenization", "VigilCore"]),
        .target(
            name: "Server",
            dependencies: [
                "Streaming", "Memory", "SessionStore", "MediaIngest", "SmolVLM", "HTTPServer", "OpenAIWire",
                "VigilCrypto", "VigilCore",
            ]),
        .target(
            name: "VigilCLI",
            dependencies: [
                "CEdit", "Server", "Streaming", "Memory", "SessionStore", "MediaIngest", "SmolVLM", "Kernels",
                "ModelHub", "Tokenization", "VigilCore",
            ]),
        .executableTarget(name: "vigil", dependencies: ["VigilCLI"]),

        // MARK: - Tests
        .target(name: "TestSupport", dependencies: ["Kernels", "VigilCore"], path: "Tests/TestSupport"),
        // Test-only: counts every allocation of the probe process (interposes malloc); never linked into vigil.
        .target(name: "CMallocCounter", path: "Tests/CMallocCounter"),
        .executableTarget(
            name: "AllocationProbe", dependencies: ["SmolVLM", "Streaming", "Kernels", "CMallocCounter"],
            path: "Tests/AllocationProbe"),
        // Test-only: appends to a caption journal until the crash test kills it (SIGKILL).
        .executableTarget(name: "JournalProbe", dependencies: ["Memory", "VigilCore"], path: "Tests/JournalProbe"),
        // Test-only: commits captions and synopsis states to a session store until the crash test kills it.
        .executableTarget(
            name: "SessionProbe", dependencies: ["SessionStore", "Memory", "VigilCore"], path: "Tests/SessionProbe"),
        // Test-only: a server with one `/health` route, for scripts/benchmarks/http-health (wrk).
        .executableTarget(name: "HTTPHealthServer", dependencies: ["HTTPServer", "VigilCore"], path: "Tests/HTTPHealthServer"),
        // Test-only: the terminal input line on a counter and a streamed answer; LineEditorTests drive it in tmux.
        .executableTarget(name: "LineEditorDemo", dependencies: ["VigilCLI"], path: "Tests/LineEditorDemo"),
        // Development only: prints FeatureMemoryBenchmark.run() as JSON (build it with -c release).
        .executableTarget(
            name: "FeatureMemoryBench", dependencies: ["Memory", "VigilCore"], path: "Tests/FeatureMemoryBench"),
        // Development only: prints VectorIndexBenchmark.run() (HNSW recall@16 against exact search) as JSON.
        .executableTarget(
            name: "VectorIndexBench", dependencies: ["Memory", "VigilCore"], path: "Tests/VectorIndexBench"),
        // Test-only: the fuzz harnesses, one per untrusted input format (docs/reliability.md). The libFuzzer
        // executables that drive them are added below only for scripts/fuzz; FuzzRegressionTests replays the
        // committed seeds and crash inputs through them in every `swift test`.
        .target(
            name: "FuzzTargets",
            dependencies: [
                "SmolVLM", "Tokenization", "ModelHub", "Streaming", "Memory", "SessionStore", "HTTPServer", "OpenAIWire",
                "MediaIngest", "VigilCore",
            ],
            path: "Tests/Fuzz/FuzzTargets"),
        .testTarget(name: "VigilCoreTests", dependencies: ["VigilCore", "TestSupport"]),
        .testTarget(name: "VigilCryptoTests", dependencies: ["VigilCrypto"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "OpenAIWire", "TestSupport"]),
        .testTarget(name: "MediaIngestTests", dependencies: ["MediaIngest", "TestSupport"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "TestSupport"]),
        .testTarget(name: "ModelHubTests", dependencies: ["ModelHub", "VigilCrypto", "TestSupport", "vigil"]),
        .testTarget(name: "SmolVLMTests", dependencies: ["SmolVLM", "TestSupport", "AllocationProbe"]),
        .testTarget(name: "StreamingTests", dependencies: ["Streaming", "Memory", "SessionStore", "TestSupport"]),
        .testTarget(
            name: "MemoryTests", dependencies: ["Memory", "SessionStore", "TestSupport", "JournalProbe", "SessionProbe"]),
        .testTarget(
            name: "ServerTests",
            dependencies: ["Server", "Streaming", "SmolVLM", "HTTPServer", "VigilCrypto", "TestSupport", "vigil"]),
        .testTarget(name: "VigilCLITests", dependencies: ["VigilCLI", "TestSupport", "vigil"]),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzTargets", "TestSupport"]),
    ]
)

// MARK: - Fuzzing

/// The libFuzzer executables (`Tests/Fuzz/Entry/Fuzz<Name>/`, each only `LLVMFuzzerTestOneInput` calling its harness
/// in FuzzTargets). They exist only when VIGIL_FUZZ is set: scripts/fuzz builds them into `.build-fuzz` with
/// `--sanitize=fuzzer,address`; a normal build never sees them (libFuzzer provides their `main`).
let fuzzEntryPoints = [
    "SafeTensors", "GGUF", "ModelConfig", "TokenizerJSON", "TokenizerEncode", "ChatTemplate", "HubCache", "Pipeline",
    "CaptionJournal", "SynopsisState", "FeatureBank", "SessionStore", "HTTPRequest", "Media",
]
if Context.environment["VIGIL_FUZZ"] != nil {
    for name in fuzzEntryPoints {
        package.targets.append(
            .executableTarget(name: "Fuzz" + name, dependencies: ["FuzzTargets"], path: "Tests/Fuzz/Entry/Fuzz" + name))
    }
}

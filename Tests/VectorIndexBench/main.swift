// Development tool: prints VectorIndexBenchmark.run() as one JSON object — HNSW recall@16 against exact search,
// build and query times, memory — on synthetic scene-like 576-value keys. Build and run with
// `swift build -c release --product VectorIndexBench` and
// `.build/release/VectorIndexBench [keys] [queries] [threads] [save folder|-] [M] [efConstruction]` (default
// 1,000,000 keys, 1,000 queries, 2 threads, no save/load timing, the default graph settings).

import Foundation
import Memory
import VigilCore

let arguments = Array(CommandLine.arguments.dropFirst())
var options = VectorIndexBenchmark.Options()
options.verbose = true
if arguments.count > 0, let count = Int(arguments[0]) { options.count = count }
if arguments.count > 1, let queries = Int(arguments[1]) { options.queries = queries }
if arguments.count > 2, let threads = Int(arguments[2]) { options.threads = threads }
if arguments.count > 3, arguments[3] != "-" { options.saveDirectory = arguments[3] }
if arguments.count > 4, let m = Int(arguments[4]) { options.parameters.m = m }
if arguments.count > 5, let ef = Int(arguments[5]) { options.parameters.efConstruction = ef }
do {
    let results = try VectorIndexBenchmark.run(options)
    let members = results.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.double($0.value)) }
    Console.json(JSONValue.object(members))
} catch {
    Console.errLine("VectorIndexBench: \(error)")
    exit(1)
}

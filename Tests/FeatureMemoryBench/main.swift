// Development tool: prints FeatureMemoryBenchmark.run() as one JSON object (milliseconds and bytes), at
// SmolVLM2-256M sizes. Build and run with `swift build -c release --product FeatureMemoryBench` and
// `.build/release/FeatureMemoryBench [frames] [search-keys]`.

import Foundation
import Memory
import VigilCore

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
var options = FeatureMemoryBenchmark.Options()
if arguments.count > 0 { options.frames = arguments[0] }
if arguments.count > 1 { options.searchKeys = arguments[1] }
do {
    let results = try FeatureMemoryBenchmark.run(options)
    let members = results.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.double($0.value)) }
    Console.json(JSONValue.object(members))
} catch {
    Console.errLine("FeatureMemoryBench: \(error)")
    exit(1)
}

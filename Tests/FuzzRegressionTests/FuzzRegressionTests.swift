// Every committed fuzz input through its harness: the seed corpora (Tests/Fixtures/fuzz/<target>/seeds) and the
// minimised inputs of crashes the fuzzers found and that were fixed (…/crashes). A harness traps on what used to
// crash, so this is the regression test of every fuzzing fix; the targeted tests of each fix, with the error it now
// throws, live in the module's own test target.

import Foundation
import FuzzTargets
import Testing
import TestSupport

@Suite struct FuzzRegressionTests {
    /// The committed inputs of `target`: its seeds and its crash inputs.
    static func inputs(of target: FuzzTarget) throws -> [URL] {
        let folder = Fixtures.url("fuzz").appendingPathComponent(target.rawValue)
        var files: [URL] = []
        for kind in ["seeds", "crashes"] {
            let directory = folder.appendingPathComponent(kind)
            guard FileManager.default.fileExists(atPath: directory.path) else { continue }
            files += try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
                .filter { !$0.hasPrefix(".") }.map { directory.appendingPathComponent($0) }
        }
        return files
    }

    @Test("every target has a seed corpus", arguments: FuzzTarget.allCases)
    func seedsExist(target: FuzzTarget) throws {
        let seeds = try Self.inputs(of: target).filter { $0.path.contains("/seeds/") }
        #expect(!seeds.isEmpty, "Tests/Fixtures/fuzz/\(target.rawValue)/seeds is empty")
    }

    @Test("committed seeds and crash inputs run through their harness", arguments: FuzzTarget.allCases)
    func replay(target: FuzzTarget) throws {
        for file in try Self.inputs(of: target) {
            target.run(Array(try Data(contentsOf: file)))
        }
    }
}

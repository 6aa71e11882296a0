// libFuzzer entry point of the `pipeline` fuzz target (built only by scripts/fuzz; see docs/reliability.md).

import FuzzTargets

/// Runs one input; libFuzzer provides `main`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.pipeline.fuzz(data, size)
}

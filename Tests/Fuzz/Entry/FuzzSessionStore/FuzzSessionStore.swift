// libFuzzer entry point of the `session-store` fuzz target (built only by scripts/fuzz; see docs/reliability.md).

import FuzzTargets

/// Loads what the target keeps for every input, before libFuzzer starts timing inputs.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
    _ argc: UnsafeMutablePointer<Int32>?,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
) -> Int32 {
    FuzzTarget.sessionStore.prepare()
    return 0
}

/// Runs one input; libFuzzer provides `main`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.sessionStore.fuzz(data, size)
}

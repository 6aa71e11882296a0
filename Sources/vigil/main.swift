// The `vigil` executable: everything lives in the VigilCLI library, so tests can drive it in-process.
//
// The OpenMP runtime (libgomp, used by oneDNN and our kernels) reads OMP_WAIT_POLICY once, when it is loaded —
// before any of our code runs. Idle compute threads must sleep rather than spin (Vigil shares 2 cores between
// decoding, the model and whatever else runs on the machine), so when the variable is unset we set it to
// "passive" and re-execute ourselves once; an explicit setting is respected.

import Foundation
import VigilCLI

if getenv("OMP_WAIT_POLICY") == nil {
    setenv("OMP_WAIT_POLICY", "passive", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // exec failed (no /proc?): carry on with the runtime's default policy.
}
exit(await VigilMain.run(Array(CommandLine.arguments.dropFirst())))

// The `vigil` executable: everything lives in the VigilCLI library, so tests can drive it in-process.

import Foundation
import VigilCLI

exit(await VigilMain.run(Array(CommandLine.arguments.dropFirst())))

// Where the web page's static files are (index.html, app.js, style.css: plain files, no build step). Looked for like
// the pipeline presets: $VIGIL_WEB, ./web, then `web/` beside (or two and three levels above) the running executable,
// and `share/vigil/web` there — a checkout's `.build/<config>/vigil` and an install under a prefix both work.

import Foundation

/// The web page's folder.
public enum WebRoot {
    /// The first folder with an `index.html` among the usual places, or nil.
    public static func locate() -> URL? {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["VIGIL_WEB"], !env.isEmpty { candidates.append(env) }
        candidates.append(FileManager.default.currentDirectoryPath + "/web")
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
            .deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("web").path)
            candidates.append(dir.appendingPathComponent("share/vigil/web").path)
            dir = dir.deletingLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/index.html") }
            .map { URL(fileURLWithPath: $0) }
    }
}

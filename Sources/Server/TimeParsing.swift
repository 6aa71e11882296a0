// Times in query parameters and request fields: media seconds (`125`, `125.5`), clock times (`2:05`, `1:02:05.5`)
// or times relative to the newest frame (`-120s`, `-2m`, `-1h`).

import HTTPServer

/// Parses `since`/`until`-style media times.
enum MediaTimeText {
    /// The media time `text` names, relative times counted back from `now`; `name` is used in the error.
    static func parse(_ text: String, now: Double, name: String) throws(HTTPError) -> Double {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("-") {
            var body = trimmed.dropFirst()
            var scale = 1.0
            if let unit = body.last, "smh".contains(unit) {
                scale = unit == "s" ? 1 : unit == "m" ? 60 : 3600
                body = body.dropLast()
            }
            guard let value = Double(body), value.isFinite, value >= 0 else { throw problem(text, name) }
            return max(0, now - value * scale)
        }
        if let seconds = Double(trimmed), seconds.isFinite, seconds >= 0 { return seconds }
        let parts = trimmed.split(separator: ":", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count) else { throw problem(text, name) }
        var total = 0.0
        for (i, part) in parts.enumerated() {
            guard let v = Double(part), v.isFinite, v >= 0, i == parts.count - 1 || v == v.rounded() else {
                throw problem(text, name)
            }
            total = total * 60 + v
        }
        return total
    }

    private static func problem(_ text: String, _ name: String) -> HTTPError {
        .badRequest(
            "\(name)='\(text)' is not a media time; give seconds (125.5), a clock time (2:05, 1:02:05) or a time "
                + "back from now (-120s, -2m)")
    }
}

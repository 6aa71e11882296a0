// Byte counts for people: decimal units (kB, MB, GB), as the hub's web pages and huggingface_hub's progress bars
// show them, so sizes can be compared at a glance.

/// Formats byte counts and rates.
public enum ByteFormat {
    /// `512 B`, `12.3 kB`, `1.2 MB`, `3.45 GB`.
    public static func string(_ bytes: Int64) -> String {
        if bytes < 1000 { return "\(bytes) B" }
        let units = ["kB", "MB", "GB", "TB", "PB"]
        var value = Double(bytes) / 1000
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        let digits = value < 10 ? 2 : value < 100 ? 1 : 0
        return format(value, digits: digits) + " " + units[unit]
    }

    /// `m:ss` or `h:mm:ss` for a duration in seconds.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--:--" }
        let total = Int(seconds.rounded())
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
        let mmss = (h > 0 && m < 10 ? "0" : "") + "\(m):" + (s < 10 ? "0" : "") + "\(s)"
        return h > 0 ? "\(h):\(mmss)" : mmss
    }

    private static func format(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        if digits == 0, text.hasSuffix(".0") { text.removeLast(2) }
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
        } else if digits > 0 {
            text += "." + String(repeating: "0", count: digits)
        }
        return text
    }
}

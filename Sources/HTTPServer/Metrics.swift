// A small Prometheus registry for `GET /metrics`: counters, gauges and histograms, each with optional labels,
// rendered in the text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/):
// `# HELP` and `# TYPE` per family, label values escaped (\\, \", \n), HELP text escaped (\\, \n), histograms as
// cumulative `_bucket{le=…}` series plus `_sum` and `_count`. Families render in registration order, series sorted by
// label values, so the output is stable. Names follow Prometheus rules (checked: a bad name is a programmer error).
//
//     let metrics = MetricsRegistry()
//     let frames = metrics.counter("vigil_frames_decoded_total", help: "Frames decoded.", labelNames: ["source"])
//     frames.increment(labels: ["source": "cam1"])
//     router.get("/metrics") { _ in metrics.response() }

import Foundation
import Synchronization

/// A set of metrics rendered together.
public final class MetricsRegistry: Sendable {
    /// The media type of the text format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private let families = Mutex<[any MetricFamily]>([])
    private let collectors = Mutex<[@Sendable () -> Void]>([])

    /// An empty registry.
    public init() {}

    /// Registers a counter (a value that only goes up; by convention its name ends in `_total`).
    public func counter(_ name: String, help: String, labelNames: [String] = []) -> CounterMetric {
        register(CounterMetric(name: name, help: help, labelNames: labelNames))
    }

    /// Registers a gauge (a value that goes up and down).
    public func gauge(_ name: String, help: String, labelNames: [String] = []) -> GaugeMetric {
        register(GaugeMetric(name: name, help: help, labelNames: labelNames))
    }

    /// Registers a histogram with upper bounds `buckets` (ascending; `+Inf` is added).
    public func histogram(
        _ name: String, help: String, labelNames: [String] = [], buckets: [Double] = HistogramMetric.defaultBuckets
    ) -> HistogramMetric {
        register(HistogramMetric(name: name, help: help, labelNames: labelNames, buckets: buckets))
    }

    /// Runs `body` at the start of every `render`, to set gauges that are read rather than pushed (memory, lag).
    public func onCollect(_ body: @escaping @Sendable () -> Void) {
        collectors.withLock { $0.append(body) }
    }

    /// Every metric in the text exposition format.
    public func render() -> String {
        for collect in collectors.withLock({ $0 }) { collect() }
        var out = ""
        for family in families.withLock({ $0 }) {
            out += "# HELP \(family.name) \(Self.escapeHelp(family.help))\n"
            out += "# TYPE \(family.name) \(family.type)\n"
            family.renderSamples(into: &out)
        }
        return out
    }

    /// `render()` as a 200 response with the exposition format's media type.
    public func response() -> HTTPResponse {
        .text(render(), contentType: Self.contentType)
    }

    private func register<M: MetricFamily>(_ metric: M) -> M {
        families.withLock { families in
            precondition(!families.contains { $0.name == metric.name }, "metric \(metric.name) is registered twice")
            families.append(metric)
        }
        return metric
    }

    static func escapeHelp(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func escapeLabelValue(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// A sample value: integers without a fraction, `+Inf`, `-Inf`, `NaN`, else the shortest round-trip decimal.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == .infinity { return "+Inf" }
        if value == -.infinity { return "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    static func isValidMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_" || first == ":" else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" || $0 == ":" }
    }

    static func isValidLabelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_", !name.hasPrefix("__") else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" }
    }
}

/// What the registry needs of a metric.
protocol MetricFamily: Sendable {
    var name: String { get }
    var help: String { get }
    var type: String { get }
    func renderSamples(into out: inout String)
}

/// Names and label names shared by the three kinds, and the label-set bookkeeping.
struct MetricDescriptor: Sendable {
    let name: String
    let help: String
    let labelNames: [String]

    init(name: String, help: String, labelNames: [String], reserved: [String] = []) {
        precondition(MetricsRegistry.isValidMetricName(name), "invalid metric name \(name)")
        for label in labelNames {
            precondition(MetricsRegistry.isValidLabelName(label), "metric \(name): invalid label name \(label)")
            precondition(!reserved.contains(label), "metric \(name): label name \(label) is reserved")
        }
        precondition(Set(labelNames).count == labelNames.count, "metric \(name): a label name is repeated")
        self.name = name
        self.help = help
        self.labelNames = labelNames
    }

    /// The label values in `labelNames` order; the keys must be exactly the label names (a programmer error if not).
    func values(_ labels: [String: String]) -> [String] {
        precondition(
            labels.count == labelNames.count && labelNames.allSatisfy { labels[$0] != nil },
            "metric \(name) takes labels \(labelNames), given \(labels.keys.sorted())")
        return labelNames.map { labels[$0]! }
    }

    /// `{a="x",b="y"}` (with `extra` appended), or "" without labels.
    func labelText(_ values: [String], extra: (String, String)? = nil) -> String {
        var pairs = zip(labelNames, values).map { "\($0)=\"\(MetricsRegistry.escapeLabelValue($1))\"" }
        if let extra { pairs.append("\(extra.0)=\"\(extra.1)\"") }
        return pairs.isEmpty ? "" : "{" + pairs.joined(separator: ",") + "}"
    }
}

/// A value that only goes up.
public final class CounterMetric: MetricFamily {
    let descriptor: MetricDescriptor
    private let series = Mutex<[[String]: Double]>([:])
    var name: String { descriptor.name }
    var help: String { descriptor.help }
    var type: String { "counter" }

    init(name: String, help: String, labelNames: [String]) {
        descriptor = MetricDescriptor(name: name, help: help, labelNames: labelNames)
        if labelNames.isEmpty { series.withLock { $0[[]] = 0 } }
    }

    /// Adds `amount` (not negative) to the series with `labels`.
    public func increment(by amount: Double = 1, labels: [String: String] = [:]) {
        precondition(amount >= 0, "counter \(descriptor.name) cannot go down")
        let key = descriptor.values(labels)
        series.withLock { $0[key, default: 0] += amount }
    }

    /// The current value of the series with `labels`.
    public func value(labels: [String: String] = [:]) -> Double {
        let key = descriptor.values(labels)
        return series.withLock { $0[key] ?? 0 }
    }

    func renderSamples(into out: inout String) {
        for (key, value) in series.withLock({ $0 }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            out += "\(descriptor.name)\(descriptor.labelText(key)) \(MetricsRegistry.format(value))\n"
        }
    }
}

/// A value that goes up and down.
public final class GaugeMetric: MetricFamily {
    let descriptor: MetricDescriptor
    private let series = Mutex<[[String]: Double]>([:])
    var name: String { descriptor.name }
    var help: String { descriptor.help }
    var type: String { "gauge" }

    init(name: String, help: String, labelNames: [String]) {
        descriptor = MetricDescriptor(name: name, help: help, labelNames: labelNames)
        if labelNames.isEmpty { series.withLock { $0[[]] = 0 } }
    }

    /// Sets the series with `labels` to `value`.
    public func set(_ value: Double, labels: [String: String] = [:]) {
        let key = descriptor.values(labels)
        series.withLock { $0[key] = value }
    }

    /// Adds `amount` (negative to subtract) to the series with `labels`.
    public func increment(by amount: Double = 1, labels: [String: String] = [:]) {
        let key = descriptor.values(labels)
        series.withLock { $0[key, default: 0] += amount }
    }

    /// Drops the series with `labels` (a source that went away).
    public func remove(labels: [String: String]) {
        let key = descriptor.values(labels)
        _ = series.withLock { $0.removeValue(forKey: key) }
    }

    /// The current value of the series with `labels`.
    public func value(labels: [String: String] = [:]) -> Double {
        let key = descriptor.values(labels)
        return series.withLock { $0[key] ?? 0 }
    }

    func renderSamples(into out: inout String) {
        for (key, value) in series.withLock({ $0 }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            out += "\(descriptor.name)\(descriptor.labelText(key)) \(MetricsRegistry.format(value))\n"
        }
    }
}

/// Observations counted into buckets by upper bound, with their sum and count.
public final class HistogramMetric: MetricFamily {
    /// Prometheus' default buckets (seconds): 5 ms to 10 s.
    public static let defaultBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Series {
        /// Observations per bucket (not cumulative), the last one for +Inf.
        var counts: [UInt64]
        var sum: Double = 0
    }

    let descriptor: MetricDescriptor
    /// Upper bounds, ascending, without +Inf.
    let bounds: [Double]
    private let series = Mutex<[[String]: Series]>([:])
    var name: String { descriptor.name }
    var help: String { descriptor.help }
    var type: String { "histogram" }

    init(name: String, help: String, labelNames: [String], buckets: [Double]) {
        descriptor = MetricDescriptor(name: name, help: help, labelNames: labelNames, reserved: ["le"])
        let bounds = buckets.filter { $0 != .infinity }
        precondition(!bounds.isEmpty, "histogram \(name) needs at least one finite bucket")
        precondition(zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 }, "histogram \(name): buckets must ascend")
        self.bounds = bounds
        if labelNames.isEmpty {
            series.withLock { $0[[]] = Series(counts: [UInt64](repeating: 0, count: bounds.count + 1)) }
        }
    }

    /// Records `value` in the series with `labels`.
    public func observe(_ value: Double, labels: [String: String] = [:]) {
        let key = descriptor.values(labels)
        let bucket = bounds.firstIndex { value <= $0 } ?? bounds.count
        let empty = bounds.count + 1
        series.withLock { all in
            all[key, default: Series(counts: [UInt64](repeating: 0, count: empty))].counts[bucket] += 1
            all[key]!.sum += value
        }
    }

    /// The number of observations in the series with `labels`.
    public func count(labels: [String: String] = [:]) -> UInt64 {
        let key = descriptor.values(labels)
        return series.withLock { $0[key]?.counts.reduce(0, +) ?? 0 }
    }

    func renderSamples(into out: inout String) {
        for (key, value) in series.withLock({ $0 }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            var cumulative: UInt64 = 0
            for (i, count) in value.counts.enumerated() {
                cumulative += count
                let le = i < bounds.count ? MetricsRegistry.format(bounds[i]) : "+Inf"
                out += "\(descriptor.name)_bucket\(descriptor.labelText(key, extra: ("le", le))) \(cumulative)\n"
            }
            out += "\(descriptor.name)_sum\(descriptor.labelText(key)) \(MetricsRegistry.format(value.sum))\n"
            out += "\(descriptor.name)_count\(descriptor.labelText(key)) \(cumulative)\n"
        }
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { (value >= 65 && value <= 90) || (value >= 97 && value <= 122) }
    fileprivate var isASCIIDigit: Bool { value >= 48 && value <= 57 }
}

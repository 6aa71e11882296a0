// GGUF metadata values: the 13 value types of the GGUF spec (ggml docs/gguf.md, `enum gguf_metadata_value_type`),
// including arrays (of any type, arrays of strings and nested arrays included).

/// The type tag of a GGUF metadata value, as numbered in the file.
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0
    case int8 = 1
    case uint16 = 2
    case int16 = 3
    case uint32 = 4
    case int32 = 5
    case float32 = 6
    case bool = 7
    case string = 8
    case array = 9
    case uint64 = 10
    case int64 = 11
    case float64 = 12

    /// Bytes one value of this type takes at least in the file (strings: their length; arrays: type and count).
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }
}

/// One metadata value of a GGUF file.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    /// An array; `elementType` is kept so that empty arrays still say what they hold.
    case array(elementType: GGUFValueType, values: [GGUFValue])
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    /// The type tag of this value.
    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        }
    }

    /// The value of any integer type as an `Int` (nil for other types and for a `uint64` beyond `Int.max`).
    public var integer: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// The value of a float type (nil for other types).
    public var float: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return nil
        }
    }

    /// The value of a string (nil for other types).
    public var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// The value of a bool (nil for other types).
    public var bool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    /// The elements of an array (nil for other types).
    public var array: [GGUFValue]? {
        if case .array(_, let values) = self { return values }
        return nil
    }

    /// The elements of an array of strings (nil for anything else).
    public var strings: [String]? {
        guard case .array(.string, let values) = self else { return nil }
        return values.map { $0.string ?? "" }
    }

    /// The elements of an array of integers as `Int`s (nil for anything else).
    public var integers: [Int]? {
        guard case .array(let type, let values) = self, type != .array, type != .string else { return nil }
        var result: [Int] = []
        result.reserveCapacity(values.count)
        for value in values {
            guard let v = value.integer else { return nil }
            result.append(v)
        }
        return result
    }

    /// How the type reads in messages: `uint32`, `array of string`.
    public var typeDescription: String {
        if case .array(let elementType, _) = self { return "array of \(elementType)" }
        return "\(type)"
    }
}

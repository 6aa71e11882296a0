// Writing small .safetensors files from tests (to make damaged or altered checkpoints without Python).

import Foundation

/// One tensor to write: its header dtype string, shape and raw little-endian bytes.
public struct SafeTensorsEntryData {
    public var name: String
    public var dtype: String
    public var shape: [Int]
    public var bytes: Data

    public init(name: String, dtype: String, shape: [Int], bytes: Data) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }
}

/// Serialises tensors in the safetensors layout (8-byte header length, JSON header, data).
public enum SafeTensorsWriter {
    public static func data(_ entries: [SafeTensorsEntryData]) -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for e in entries {
            header[e.name] = ["dtype": e.dtype, "shape": e.shape, "data_offsets": [offset, offset + e.bytes.count]]
            offset += e.bytes.count
        }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        var length = UInt64(json.count).littleEndian
        out.append(Data(bytes: &length, count: 8))
        out.append(json)
        for e in entries { out.append(e.bytes) }
        return out
    }
}

import Foundation

/// A JSON value of an import line: what a JSON Lines object holds, what a CSV cell becomes, and the body
/// sent to the API. A `datasetReference` is a file-local name (`ref`) standing where the API takes a
/// dataset id; it is written as the id once the line that defines it has been imported.
indirect enum ImportValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([ImportValue])
    case object([String: ImportValue])
    case datasetReference(String)

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([ImportValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: ImportValue].self))
        }
    }

    /// The JSON text, keys sorted, references written by `resolve` (which returns nil for one not known).
    func write(into bytes: inout [UInt8], resolve: (String) -> Int64?) {
        switch self {
        case .null: bytes += Array("null".utf8)
        case .bool(let value): bytes += Array((value ? "true" : "false").utf8)
        case .integer(let value): bytes += Array(String(value).utf8)
        case .number(let value): bytes += Array(String(value).utf8)
        case .string(let value): Self.writeString(value, into: &bytes)
        case .datasetReference(let name): bytes += Array((resolve(name).map(String.init) ?? "null").utf8)
        case .array(let values):
            bytes.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                value.write(into: &bytes, resolve: resolve)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                Self.writeString(key, into: &bytes)
                bytes.append(UInt8(ascii: ":"))
                members[key]!.write(into: &bytes, resolve: resolve)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    static func writeString(_ text: String, into bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20: bytes += Array(String(format: "\\u%04x", Int(byte)).utf8)
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The references this value holds, in order.
    var references: [String] {
        switch self {
        case .datasetReference(let name): [name]
        case .array(let values): values.flatMap(\.references)
        case .object(let members): members.keys.sorted().flatMap { members[$0]!.references }
        default: []
        }
    }
}

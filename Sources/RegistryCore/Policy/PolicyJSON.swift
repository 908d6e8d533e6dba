/// A JSON value as the policy importer and exporter need it: objects keep their members in order,
/// numbers keep their text so that 64-bit integers stay exact.
enum PolicyJSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([PolicyJSON])
    case object([Member])

    struct Member: Equatable, Sendable {
        var key: String
        var value: PolicyJSON
        init(_ key: String, _ value: PolicyJSON) {
            self.key = key
            self.value = value
        }
    }

    /// Indented with two spaces; arrays of scalars on one line. Recursive: only our own, shallow values
    /// are written.
    var text: String {
        var out = ""
        write(into: &out, indent: 0)
        out.append("\n")
        return out
    }

    private func write(into out: inout String, indent: Int) {
        switch self {
        case .null: out.append("null")
        case .bool(let value): out.append(value ? "true" : "false")
        case .number(let text): out.append(text)
        case .string(let text): Self.writeString(text, into: &out)
        case .array(let items):
            if items.isEmpty {
                out.append("[]")
            } else if items.allSatisfy(\.isScalar) {
                out.append("[")
                for (index, item) in items.enumerated() {
                    if index > 0 { out.append(", ") }
                    item.write(into: &out, indent: indent)
                }
                out.append("]")
            } else {
                out.append("[\n")
                for (index, item) in items.enumerated() {
                    out.append(String(repeating: " ", count: indent + 2))
                    item.write(into: &out, indent: indent + 2)
                    out.append(index == items.count - 1 ? "\n" : ",\n")
                }
                out.append(String(repeating: " ", count: indent) + "]")
            }
        case .object(let members):
            if members.isEmpty {
                out.append("{}")
                return
            }
            out.append("{\n")
            for (index, member) in members.enumerated() {
                out.append(String(repeating: " ", count: indent + 2))
                Self.writeString(member.key, into: &out)
                out.append(": ")
                member.value.write(into: &out, indent: indent + 2)
                out.append(index == members.count - 1 ? "\n" : ",\n")
            }
            out.append(String(repeating: " ", count: indent) + "}")
        }
    }

    private var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }

    private static func writeString(_ text: String, into out: inout String) {
        out.append("\"")
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append("\"")
    }
}

import Hummingbird

/// Ids in paths and queries: 1 to 18 ASCII digits, no sign, no leading zero, nothing around them —
/// `/v1/datasets/+1` and `/v1/datasets/01` are not dataset 1 (Swift's `Int64("+1")` says they are).
enum StrictID {
    static func parse(_ text: Substring) -> Int64? {
        let bytes = text.utf8
        guard (1...18).contains(bytes.count), bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        guard bytes.count == 1 || bytes.first != UInt8(ascii: "0") else { return nil }
        return Int64(text)
    }

    static let reason = "must be an id: 1 to 18 digits, without sign or leading zeros"
}

extension RegistryRequestContext {
    /// The id in the path parameter `name`, or a 400 naming it.
    func pathID(_ name: String) throws -> Int64 {
        guard let text = parameters.get(name), let id = StrictID.parse(Substring(text)) else {
            throw Problem.invalidField(name, StrictID.reason)
        }
        return id
    }
}

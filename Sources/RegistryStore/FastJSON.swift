import RegistryCore

/// Hand-read JSON for the few shapes a rebuild reads by the hundred thousand. Each reader returns nil
/// for anything it does not recognise exactly, and the caller falls back to `JSONDecoder`.
enum FastJSON {
    /// `[{"kind": "contract", "sha256": "<64 hex>"}, …]`, with or without spaces, keys in either order.
    static func evidence(_ text: String) -> [Evidence]? {
        var result: [Evidence] = []
        var utf8 = Substring(text).utf8[...]
        func skipSpaces() { while let first = utf8.first, first == 0x20 || first == 0x0A { utf8 = utf8.dropFirst() } }
        func expect(_ byte: UInt8) -> Bool {
            skipSpaces()
            guard utf8.first == byte else { return false }
            utf8 = utf8.dropFirst()
            return true
        }
        /// A string without escapes.
        func string() -> String? {
            guard expect(0x22) else { return nil }
            guard let end = utf8.firstIndex(of: 0x22) else { return nil }
            let value = utf8[utf8.startIndex..<end]
            if value.contains(0x5C) { return nil }
            utf8 = utf8[utf8.index(after: end)...]
            return String(decoding: value, as: UTF8.self)
        }
        guard expect(0x5B) else { return nil }
        if expect(0x5D) { return [] }
        repeat {
            guard expect(0x7B) else { return nil }
            var kind: EvidenceKind?
            var digest: String?
            repeat {
                guard let key = string(), expect(0x3A), let value = string() else { return nil }
                switch key {
                case "kind": kind = EvidenceKind(rawValue: value)
                case "sha256": digest = value
                default: return nil
                }
            } while expect(0x2C)
            guard expect(0x7D), let kind, let digest, Evidence.isDigest(digest) else { return nil }
            result.append(Evidence(kind: kind, sha256: digest))
        } while expect(0x2C)
        guard expect(0x5D) else { return nil }
        skipSpaces()
        return utf8.isEmpty ? result : nil
    }
}

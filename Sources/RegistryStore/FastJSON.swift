import RegistryCore

/// Hand-read JSON for the few shapes a rebuild reads by the hundred thousand. Each reader returns nil
/// for anything it does not recognise exactly, and the caller falls back to `JSONDecoder`.
enum FastJSON {
    /// `[{"kind": "contract", "sha256": "<64 hex>"}, …]`, with or without spaces, keys in either order.
    static func evidence(_ text: String) -> [Evidence]? {
        var result: [Evidence] = []
        var scanner = Scanner(text)
        guard scanner.expect(0x5B) else { return nil }
        if scanner.expect(0x5D) { return scanner.atEnd ? [] : nil }
        repeat {
            guard scanner.expect(0x7B) else { return nil }
            var kind: EvidenceKind?
            var digest: String?
            repeat {
                guard let key = scanner.string(), scanner.expect(0x3A), let value = scanner.string() else { return nil }
                switch key {
                case "kind": kind = EvidenceKind(rawValue: value)
                case "sha256": digest = value
                default: return nil
                }
            } while scanner.expect(0x2C)
            guard scanner.expect(0x7D), let kind, let digest, Evidence.isDigest(digest) else { return nil }
            result.append(Evidence(kind: kind, sha256: digest))
        } while scanner.expect(0x2C)
        guard scanner.expect(0x5D), scanner.atEnd else { return nil }
        return result
    }

    /// An access request's records as stored: `{}` or `{"riskAssessment": "<digest>", …}` with string
    /// values under the five known keys, each at most once.
    static func accessRecords(_ text: String) -> AccessRecords? {
        var records = AccessRecords()
        var scanner = Scanner(text)
        guard scanner.expect(0x7B) else { return nil }
        if scanner.expect(0x7D) { return scanner.atEnd ? records : nil }
        repeat {
            guard let key = scanner.string(), scanner.expect(0x3A), let value = scanner.string() else { return nil }
            switch key {
            case "riskAssessment" where records.riskAssessment == nil: records.riskAssessment = value
            case "securityAssessment" where records.securityAssessment == nil: records.securityAssessment = value
            case "consentEvidence" where records.consentEvidence == nil: records.consentEvidence = value
            case "impactAssessment" where records.impactAssessment == nil: records.impactAssessment = value
            case "standardContract" where records.standardContract == nil: records.standardContract = value
            default: return nil
            }
        } while scanner.expect(0x2C)
        guard scanner.expect(0x7D), scanner.atEnd else { return nil }
        return records
    }

    /// Reads punctuation and strings without escapes from the front of a text.
    struct Scanner {
        private var utf8: Substring.UTF8View

        init(_ text: String) { utf8 = Substring(text).utf8 }

        /// Only spaces and newlines are left.
        var atEnd: Bool {
            mutating get {
                skipSpaces()
                return utf8.isEmpty
            }
        }

        mutating func skipSpaces() {
            while let first = utf8.first, first == 0x20 || first == 0x0A { utf8 = utf8.dropFirst() }
        }

        /// Consumes `byte` (after spaces) if it comes next.
        mutating func expect(_ byte: UInt8) -> Bool {
            skipSpaces()
            guard utf8.first == byte else { return false }
            utf8 = utf8.dropFirst()
            return true
        }

        /// A string without escapes; nil (and nothing consumed of it) for anything else.
        mutating func string() -> String? {
            guard expect(0x22) else { return nil }
            guard let end = utf8.firstIndex(of: 0x22) else { return nil }
            let value = utf8[utf8.startIndex..<end]
            if value.contains(0x5C) { return nil }
            utf8 = utf8[utf8.index(after: end)...]
            return String(decoding: value, as: UTF8.self)
        }
    }
}

/// What kind of organisation a party is; it decides what the party's API keys may do.
public enum PartyKind: String, Sendable, Codable, CaseIterable {
    /// A government body: holds government data under a sharing catalog.
    case department
    /// A state-owned or private enterprise.
    case enterprise
    /// An AI model lab: obtains access and reports usage.
    case modelLab = "model_lab"
    /// A registration body: reviews registrations, runs notice, rules on objections, issues certificates.
    case registrar
    /// Reads everything, writes only its rulings.
    case regulator
    /// Runs the deployment: creates parties and API keys.
    case `operator`

    /// "a department", "an enterprise", "a model_lab" … for messages.
    public var withArticle: String {
        let vowels: Set<Character> = ["a", "e", "i", "o", "u"]
        return (vowels.contains(rawValue.first!) ? "an " : "a ") + rawValue
    }

    /// Kinds that hold data and register rights over it.
    public var mayHoldData: Bool { self == .department || self == .enterprise || self == .modelLab }
}

/// Where a party is established, for cross-border rules (R16).
public enum Jurisdiction: String, Sendable, Codable {
    case mainland
    case outside
}

/// An organisation known to the registry.
public struct Party: Sendable, Equatable, Codable {
    public var id: PartyID
    public var name: String
    public var kind: PartyKind
    /// Provincial-level region code (`CN-BJ`), or an ISO 3166-1 country code for a party outside China.
    public var region: String
    public var jurisdiction: Jurisdiction
    /// Unified social credit code (GB 32100-2015), required for mainland organisations that hold data.
    public var creditCode: String?
    /// The party's sector (GB/T 4754-2017 section), when it gave one; statistics by holder sector read it.
    public var sector: Sector?
    public var createdAt: Timestamp

    public init(
        id: PartyID, name: String, kind: PartyKind, region: String, jurisdiction: Jurisdiction, creditCode: String?, sector: Sector? = nil,
        createdAt: Timestamp
    ) {
        self.id = id
        self.name = name
        self.kind = kind
        self.region = region
        self.jurisdiction = jurisdiction
        self.creditCode = creditCode
        self.sector = sector
        self.createdAt = createdAt
    }
}

/// The 34 provincial-level divisions, by ISO 3166-2:CN code.
public enum Regions {
    public static let provincial: [String: String] = [
        "CN-BJ": "Beijing", "CN-TJ": "Tianjin", "CN-HE": "Hebei", "CN-SX": "Shanxi", "CN-NM": "Inner Mongolia",
        "CN-LN": "Liaoning", "CN-JL": "Jilin", "CN-HL": "Heilongjiang", "CN-SH": "Shanghai", "CN-JS": "Jiangsu",
        "CN-ZJ": "Zhejiang", "CN-AH": "Anhui", "CN-FJ": "Fujian", "CN-JX": "Jiangxi", "CN-SD": "Shandong",
        "CN-HA": "Henan", "CN-HB": "Hubei", "CN-HN": "Hunan", "CN-GD": "Guangdong", "CN-GX": "Guangxi",
        "CN-HI": "Hainan", "CN-CQ": "Chongqing", "CN-SC": "Sichuan", "CN-GZ": "Guizhou", "CN-YN": "Yunnan",
        "CN-XZ": "Tibet", "CN-SN": "Shaanxi", "CN-GS": "Gansu", "CN-QH": "Qinghai", "CN-NX": "Ningxia",
        "CN-XJ": "Xinjiang", "CN-TW": "Taiwan", "CN-HK": "Hong Kong", "CN-MO": "Macau",
    ]

    /// Provincial divisions outside the mainland jurisdiction.
    public static let outsideMainland: Set<String> = ["CN-TW", "CN-HK", "CN-MO"]

    public static func isMainland(_ region: String) -> Bool {
        provincial[region] != nil && !outsideMainland.contains(region)
    }

    /// A provincial code, or a two-letter country code other than CN.
    public static func isKnown(_ region: String) -> Bool {
        if provincial[region] != nil { return true }
        return region.utf8.count == 2 && region.utf8.allSatisfy { $0 >= 0x41 && $0 <= 0x5A } && region != "CN"
    }
}

/// The unified social credit code of GB 32100-2015: 18 characters from a 31-character alphabet, the last
/// a check character over the first 17 (weights 3^i mod 31).
public enum CreditCode {
    static let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
    static let weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

    /// A valid code for the organisation numbered `number` (authority 9, category 1, division 110000):
    /// its nine organisation characters are `number` in base 31, then the check character.
    public static func make(organisation number: Int64) -> String {
        var body = Array("91110000")
        var value = number
        var organisation: [Character] = []
        for _ in 0..<9 {
            organisation.append(alphabet[Int(value % 31)])
            value /= 31
        }
        body += organisation.reversed()
        body.append(checkCharacter(for: body))
        return String(body)
    }

    /// The check character over a code's first 17 characters (which must be of the alphabet).
    static func checkCharacter(for body: [Character]) -> Character {
        var sum = 0
        for (index, character) in body.prefix(17).enumerated() { sum += alphabet.firstIndex(of: character)! * weights[index] }
        return alphabet[(31 - sum % 31) % 31]
    }

    /// Why `code` is not a valid credit code, or nil when it is.
    public static func problem(with code: String) -> String? {
        let characters = Array(code)
        guard characters.count == 18 else { return "must be 18 characters, has \(characters.count)" }
        for (index, character) in characters.prefix(17).enumerated() where !alphabet.contains(character) {
            return "character \(index + 1) (\(character)) is not allowed (digits and A–Y without I, O, S, V, Z)"
        }
        guard characters[2...7].allSatisfy(\.isASCII) && characters[2...7].allSatisfy(\.isNumber) else {
            return "characters 3–8 must be the administrative division code (digits)"
        }
        let check = checkCharacter(for: characters)
        guard characters[17] == check else {
            return "check character is \(characters[17]), expected \(check)"
        }
        return nil
    }
}

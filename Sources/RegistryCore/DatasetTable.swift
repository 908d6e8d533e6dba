/// Every dataset, column by column: the largest table of the core (a million rows nationally), laid out
/// so that a row costs about 190 bytes rather than the 570 that a million `Dataset` values with their own
/// strings take. Titles and descriptions live in one UTF-8 arena each; regions, formats, update cycles,
/// tag lists and sharing entries are interned (a registry has few distinct ones); fingerprints are 32
/// bytes inline. A `Dataset` is made on demand; the hot paths (decisions) read single columns.
///
/// Addressed by the dense ids the core assigns, like ``DenseTable``, with the same reading interface.
public struct DatasetTable: Sendable, IDAddressedTable {
    // Per row (index = id - 1).
    private var present: [Bool] = []
    private var holders: [Int64] = []
    /// Grade rank in the low nibble, PI level rank in the high one.
    private var levels: [UInt8] = []
    private var individuals: [Int64] = []
    private var regions: [UInt32] = []
    /// 0: no sharing entry; otherwise 1 + index in `sharingEntries`.
    private var sharing: [UInt32] = []
    private var fingerprints: [Fingerprint] = []
    private var formats: [UInt32] = []
    private var cycles: [UInt32] = []
    private var sizes: [Int64] = []
    private var tagLists: [UInt32] = []
    private var flagged: [Bool] = []
    private var created: [Int64] = []
    private var updated: [Int64] = []
    private var titles = TextColumn()
    private var descriptions = TextColumn()
    // Sparse and interned.
    private var flagReasons: [Int64: String] = [:]
    /// Fingerprints that are not 64 lowercase hex digits (only a damaged database holds one), kept as written.
    private var oddFingerprints: [Int64: String] = [:]
    private var shortStrings = Interner<String>()
    private var sharingEntries = Interner<SharingCategory>()
    private var tagSets = Interner<[String]>()
    private var presentCount = 0

    public init() {}

    /// The number of ids handed out so far (the highest id).
    public var count: Int { present.count }
    /// Datasets present (ids without a gap).
    public var presentRows: Int { presentCount }
    /// The id the next dataset gets.
    public var nextID: Int64 { Int64(present.count + 1) }

    public subscript(id: Int64) -> Dataset? {
        guard let row = row(id) else { return nil }
        return Dataset(
            id: DatasetID(rawValue: id), holder: PartyID(rawValue: holders[row]), title: titles[row], description: descriptions[row],
            grade: Grade.ranked[Int(levels[row] & 0x0F)], personalInformation: PersonalInformationLevel.ranked[Int(levels[row] >> 4)],
            individualsCovered: individuals[row], region: shortStrings[Int(regions[row])],
            sharing: sharing[row] == 0 ? nil : sharingEntries[Int(sharing[row] - 1)],
            fingerprint: oddFingerprints[id] ?? fingerprints[row].hex, format: shortStrings[Int(formats[row])],
            updateCycle: shortStrings[Int(cycles[row])], sizeBytes: sizes[row], tags: tagSets[Int(tagLists[row])], flagged: flagged[row],
            flagReason: flagReasons[id], createdAt: Timestamp(rawValue: created[row]), updatedAt: Timestamp(rawValue: updated[row]))
    }

    /// The holder of dataset `id`, without making the whole record.
    public func holder(of id: Int64) -> PartyID? { row(id).map { PartyID(rawValue: holders[$0]) } }

    /// The tag list of dataset `id`, as an index for ``tagList(_:)`` (datasets with equal lists share one),
    /// without making the whole record: statistics by domain map each list once, not each dataset.
    public func tagListIndex(of id: Int64) -> Int? { row(id).map { Int(tagLists[$0]) } }
    /// The tags of an interned list.
    public func tagList(_ index: Int) -> [String] { tagSets[index] }
    /// Distinct tag lists held: every ``tagListIndex(of:)`` is below this.
    public var tagListCount: Int { tagSets.count }

    /// Whether dataset `id` has a sharing entry (government data, R17), without making the whole record.
    public func isGovernmentData(_ id: Int64) -> Bool { row(id).map { sharing[$0] != 0 } ?? false }

    /// The region of dataset `id`, without making the whole record (R14 compliance scans).
    public func region(of id: Int64) -> String? { row(id).map { shortStrings[Int(regions[$0])] } }

    /// Whether dataset `id` is government data that is not shared (R17), without making the whole record.
    public func isNotShared(_ id: Int64) -> Bool {
        guard let row = row(id), sharing[row] != 0 else { return false }
        if case .notShared = sharingEntries[Int(sharing[row] - 1)] { return true }
        return false
    }

    /// When dataset `id` last changed, without making the whole record (the public catalog's date).
    public func updatedAt(of id: Int64) -> Timestamp? { row(id).map { Timestamp(rawValue: updated[$0]) } }

    private func row(_ id: Int64) -> Int? {
        guard id >= 1 && id <= Int64(present.count) else { return nil }
        let row = Int(id - 1)
        return present[row] ? row : nil
    }

    /// Inserts or replaces dataset `id`.
    public mutating func upsert(_ dataset: Dataset, id: Int64) {
        precondition(id >= 1, "ids start at 1")
        let row = Int(id - 1)
        if row >= present.count { grow(to: row + 1) }
        if !present[row] { presentCount += 1 }
        present[row] = true
        holders[row] = dataset.holder.rawValue
        levels[row] = UInt8(dataset.grade.rank) | UInt8(dataset.personalInformation.rank) << 4
        individuals[row] = dataset.individualsCovered
        regions[row] = UInt32(shortStrings.index(of: dataset.region))
        sharing[row] = dataset.sharing.map { UInt32(sharingEntries.index(of: $0) + 1) } ?? 0
        if let digest = Fingerprint(hex: dataset.fingerprint) {
            fingerprints[row] = digest
            oddFingerprints[id] = nil
        } else {
            oddFingerprints[id] = dataset.fingerprint
        }
        formats[row] = UInt32(shortStrings.index(of: dataset.format))
        cycles[row] = UInt32(shortStrings.index(of: dataset.updateCycle))
        sizes[row] = dataset.sizeBytes
        tagLists[row] = UInt32(tagSets.index(of: dataset.tags))
        flagged[row] = dataset.flagged
        flagReasons[id] = dataset.flagReason
        created[row] = dataset.createdAt.rawValue
        updated[row] = dataset.updatedAt.rawValue
        titles.set(row, dataset.title)
        descriptions.set(row, dataset.description)
    }

    private mutating func grow(to rows: Int) {
        let extra = rows - present.count
        present.append(contentsOf: repeatElement(false, count: extra))
        holders.append(contentsOf: repeatElement(0, count: extra))
        levels.append(contentsOf: repeatElement(0, count: extra))
        individuals.append(contentsOf: repeatElement(0, count: extra))
        regions.append(contentsOf: repeatElement(0, count: extra))
        sharing.append(contentsOf: repeatElement(0, count: extra))
        fingerprints.append(contentsOf: repeatElement(Fingerprint(), count: extra))
        formats.append(contentsOf: repeatElement(0, count: extra))
        cycles.append(contentsOf: repeatElement(0, count: extra))
        sizes.append(contentsOf: repeatElement(0, count: extra))
        tagLists.append(contentsOf: repeatElement(0, count: extra))
        flagged.append(contentsOf: repeatElement(false, count: extra))
        created.append(contentsOf: repeatElement(0, count: extra))
        updated.append(contentsOf: repeatElement(0, count: extra))
        titles.grow(to: rows)
        descriptions.grow(to: rows)
    }

}

/// A SHA-256 digest held as 32 bytes rather than 64 characters.
struct Fingerprint: Sendable, Equatable {
    var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init() {}

    /// From 64 lowercase hex digits; nil for anything else (which is kept as text instead).
    init?(hex: String) {
        var hex = hex
        guard let words = hex.withUTF8({ utf8 -> (UInt64, UInt64, UInt64, UInt64)? in
            guard utf8.count == 64 else { return nil }
            func word(_ start: Int) -> UInt64? {
                var word: UInt64 = 0
                for index in start..<(start + 16) {
                    let nibble = Self.nibbles[Int(utf8[index])]
                    guard nibble < 16 else { return nil }
                    word = word << 4 | UInt64(nibble)
                }
                return word
            }
            guard let first = word(0), let second = word(16), let third = word(32), let fourth = word(48) else { return nil }
            return (first, second, third, fourth)
        }) else { return nil }
        self.words = words
    }

    /// Each byte's value as a lowercase hex digit, 255 for anything else.
    private static let nibbles: [UInt8] = (0...255).map { byte in
        switch UInt8(byte) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt8(byte) - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt8(byte) - UInt8(ascii: "a") + 10
        default: 255
        }
    }

    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes = [UInt8](repeating: 0, count: 64)
        for (wordIndex, word) in [words.0, words.1, words.2, words.3].enumerated() {
            for nibble in 0..<16 {
                bytes[wordIndex * 16 + nibble] = digits[Int((word >> UInt64(60 - 4 * nibble)) & 0xF)]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func == (lhs: Fingerprint, rhs: Fingerprint) -> Bool { lhs.words == rhs.words }
}

/// Strings of one column in one UTF-8 arena: a row is a start and a length. Replacing a row's text
/// appends the new bytes (datasets are edited rarely; the old bytes are not reused).
struct TextColumn: Sendable {
    private var bytes: [UInt8] = []
    private var starts: [UInt32] = []
    private var lengths: [UInt32] = []

    mutating func grow(to rows: Int) {
        starts.append(contentsOf: repeatElement(0, count: rows - starts.count))
        lengths.append(contentsOf: repeatElement(0, count: rows - lengths.count))
    }

    mutating func set(_ row: Int, _ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            precondition(bytes.count + utf8.count <= Int(UInt32.max), "text arena full")
            starts[row] = UInt32(bytes.count)
            lengths[row] = UInt32(utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    subscript(row: Int) -> String {
        let start = Int(starts[row])
        return bytes.withUnsafeBufferPointer { buffer in
            String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<start + Int(lengths[row])]), as: UTF8.self)
        }
    }
}

/// Values stored once and referred to by index.
struct Interner<Value: Hashable & Sendable>: Sendable {
    private var values: [Value] = []
    private var indexes: [Value: Int] = [:]

    mutating func index(of value: Value) -> Int {
        if let index = indexes[value] { return index }
        values.append(value)
        indexes[value] = values.count - 1
        return values.count - 1
    }

    subscript(index: Int) -> Value { values[index] }
    var count: Int { values.count }
}

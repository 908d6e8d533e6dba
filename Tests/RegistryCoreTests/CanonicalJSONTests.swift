@testable import RegistryCore
import Testing

/// R30: the canonical encoding the audit chain and the state digest hash is written by
/// ``CanonicalEncoder``; its bytes must be, byte for byte, those of Foundation's `JSONEncoder` with
/// `[.sortedKeys, .withoutEscapingSlashes]` (``CanonicalJSON/referenceEncode(_:)``), which every entry
/// hashed so far was written with.
@Suite struct CanonicalJSONTests {
    /// The two encodings' bytes (compared as bytes: `String.==` would take canonically equivalent
    /// spellings as equal).
    static func expectSameBytes<T: Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fast = Array(CanonicalJSON.encode(value).utf8)
        let reference = Array(try CanonicalJSON.referenceEncode(value).utf8)
        #expect(fast == reference, "\(String(decoding: fast, as: UTF8.self)) ≠ \(String(decoding: reference, as: UTF8.self))", sourceLocation: sourceLocation)
    }

    @Test func R30_everyRecordOfAGeneratedRegistryEncodesAsFoundationDoes() throws {
        let registry = SyntheticRegistry.generate(datasets: 2_000, seed: 23, now: World().now, grants: 300)
        for entry in registry.changeEntries { try Self.expectSameBytes(entry.record) }
        let state = registry.state()
        #expect(state.market.grants.count > 0 && state.rights.objections.count > 0 && state.lineage.derivations.count > 0)
        for record in state.catalog.parties.all { try Self.expectSameBytes(record) }
        for record in state.catalog.apiKeys.all { try Self.expectSameBytes(record) }
        for record in state.catalog.datasets.all { try Self.expectSameBytes(record) }
        for record in state.rights.registrations.all { try Self.expectSameBytes(record) }
        for record in state.rights.objections.all { try Self.expectSameBytes(record) }
        for record in state.rights.certificates.all { try Self.expectSameBytes(record) }
        for record in state.lineage.derivations.all { try Self.expectSameBytes(record) }
        for record in state.lineage.flagCascades.all { try Self.expectSameBytes(record) }
        for record in state.market.policies.all { try Self.expectSameBytes(record) }
        for record in state.market.policies.all { try Self.expectSameBytes(record.policy.rules) }
        for record in state.market.accessRequests.all { try Self.expectSameBytes(record) }
        for record in state.market.grants.all { try Self.expectSameBytes(record) }
        try Self.expectSameBytes(state.auditHead)
        try Self.expectSameBytes(state.settings)
        try Self.expectSameBytes(state.usage.snapshot)
        #expect(state.digest == state.documentDigest)
    }

    /// The records a registry driven command by command writes to its audit chain: keys, flags and
    /// cascades, settings with a calendar of listed days, a usage batch's summary and a usage snapshot.
    @Test func R30_auditPayloadsAndTheDigestEncodeAsFoundationDoes() throws {
        var world = World()
        var entries: [ChangeEntry] = []
        let ministry = try world.party("Ministry of Transport / \"Roads\"", .department, code: "9144030071526726XG")
        let registrar = try world.party("Data Registration Centre", .registrar)
        entries += try world.run(.issueAPIKey(party: ministry.id, prefix: "abcd1234", secretHash: String(repeating: "0", count: 64), label: "ops\n"), by: nil)
        let source = try world.dataset("Road sensors", by: ministry)
        let derived = try world.dataset("Road sensors, hourly", by: ministry)
        entries += try world.run(.recordDerivations(target: derived.id, sources: [DerivationSource(dataset: source.id, kind: .aggregated)]), by: ministry)
        entries += try world.run(.flagDataset(source.id, reason: "collected without consent\t(§ 38) 😀"), by: registrar)
        let calendar = WorkingCalendar(
            holidays: [CivilDate("2027-01-01")!, CivilDate("2026-12-31")!, CivilDate("2027-02-17")!], workingWeekendDays: [CivilDate("2027-02-14")!])
        entries += try world.run(.updateSettings(objectionPolicy: .anyone, calendar: calendar, publicDataFeeCeiling: 1_500), by: nil)
        #expect(entries.count >= 4)
        for entry in entries { try Self.expectSameBytes(entry.record) }
        try Self.expectSameBytes(world.state.settings)
        #expect(world.state.digest == world.state.documentDigest)

        var random = SplitMix64(state: 5)
        for _ in 0..<50 {
            let summary = UsageBatchSummary(
                batch: Int64(bitPattern: random.next()), events: random.below(1_000), accepted: random.below(1_000), denied: 0,
                tokens: Int64(bitPattern: random.next()), amount: .max, transfers: .min, firstEvent: 1, lastEvent: .min,
                eventsDigest: String(repeating: "9f", count: 32))
            try Self.expectSameBytes(summary)
            let rows = (0..<random.below(4)).map { _ in (0..<3).map { _ in Int64(bitPattern: random.next()) } }
            try Self.expectSameBytes(UsageMeter.Snapshot(
                grants: rows, assignees: [], datasets: rows.reversed(), accounts: [[.min, .max, 0]], lastEvent: 1, lastTransfer: .max, lastBatch: 0))
        }
    }

    // MARK: Strings, integers, optionals

    struct Sample: Codable {
        enum Shape: Codable { case empty, named(label: String, count: Int), pair(Int64, String?) }
        var text: String
        var texts: [String]
        var optionalText: String?
        var int: Int
        var int8: Int8
        var int16: Int16
        var int32: Int32
        var int64: Int64
        var uint: UInt
        var uint8: UInt8
        var uint16: UInt16
        var uint32: UInt32
        var uint64: UInt64
        var optionalInt: Int64?
        var flag: Bool
        var optionals: [Int?]
        var nested: [[String?]]
        var shape: Shape
        var shapes: [Shape]?
        var byName: [String: Int64]
        var byNumber: [Int: String]
        var empty: [Int64]
    }

    /// Every character the escaping treats apart, and some it must leave alone.
    static let scalars: [Unicode.Scalar] =
        (0..<0x20).map { Unicode.Scalar(UInt8($0)) }
        + ["\"", "\\", "/", "\u{7F}", "\u{80}", "\u{85}", "\u{A0}", "\u{2028}", "\u{2029}", "\u{FEFF}", "\u{FFFF}", "é", "\u{301}", "ä", "日", "本",
           "😀", "👩", "\u{200D}", "a", "Z", "0", " ", "_", "-", "~", "{", "}", "[", "]", ":", ","]

    static func text(_ random: inout SplitMix64) -> String {
        var text = String.UnicodeScalarView()
        for _ in 0..<random.below(14) { text.append(random.pick(scalars)) }
        return String(text)
    }

    static func integer<T: FixedWidthInteger>(_ random: inout SplitMix64, _ type: T.Type) -> T {
        switch random.below(5) {
        case 0: T.min
        case 1: T.max
        case 2: 0
        case 3: T(truncatingIfNeeded: random.below(200) - 100)
        default: T(truncatingIfNeeded: random.next())
        }
    }

    static func sample(_ random: inout SplitMix64) -> Sample {
        func shape(_ random: inout SplitMix64) -> Sample.Shape {
            switch random.below(3) {
            case 0: .empty
            case 1: .named(label: text(&random), count: integer(&random, Int.self))
            default: .pair(integer(&random, Int64.self), random.chance(50) ? text(&random) : nil)
            }
        }
        return Sample(
            text: text(&random), texts: (0..<random.below(4)).map { _ in text(&random) }, optionalText: random.chance(50) ? text(&random) : nil,
            int: integer(&random, Int.self), int8: integer(&random, Int8.self), int16: integer(&random, Int16.self),
            int32: integer(&random, Int32.self), int64: integer(&random, Int64.self), uint: integer(&random, UInt.self),
            uint8: integer(&random, UInt8.self), uint16: integer(&random, UInt16.self), uint32: integer(&random, UInt32.self),
            uint64: integer(&random, UInt64.self), optionalInt: random.chance(50) ? integer(&random, Int64.self) : nil, flag: random.chance(50),
            optionals: (0..<random.below(4)).map { _ in random.chance(50) ? integer(&random, Int.self) : nil },
            nested: (0..<random.below(3)).map { _ in (0..<random.below(3)).map { _ in random.chance(50) ? text(&random) : nil } },
            shape: shape(&random), shapes: random.chance(50) ? (0..<random.below(3)).map { _ in shape(&random) } : nil,
            byName: Dictionary((0..<random.below(5)).map { _ in (text(&random), integer(&random, Int64.self)) }, uniquingKeysWith: { first, _ in first }),
            byNumber: Dictionary((0..<random.below(5)).map { _ in (integer(&random, Int.self), text(&random)) }, uniquingKeysWith: { first, _ in first }),
            empty: [])
    }

    @Test func R30_randomStringsIntegersAndOptionalsEncodeAsFoundationDoes() throws {
        var random = SplitMix64(state: 2026)
        for _ in 0..<400 { try Self.expectSameBytes(Self.sample(&random)) }
        // Every control character alone, and all of them together; top-level scalars and fragments.
        for scalar in Self.scalars { try Self.expectSameBytes(String(scalar)) }
        try Self.expectSameBytes(String(String.UnicodeScalarView(Self.scalars)))
        try Self.expectSameBytes("")
        try Self.expectSameBytes([Int64.min, Int64.max, 0, -1])
        try Self.expectSameBytes([UInt64.max])
        try Self.expectSameBytes(Optional<Int>.none)
        try Self.expectSameBytes([String?.none, "x"])
        try Self.expectSameBytes(true)
        try Self.expectSameBytes([[Int]]())
        try Self.expectSameBytes([String: Int]())
    }

    /// Floating point (no core record has any): Swift's shortest representation less a trailing `.0`.
    @Test func R30_floatingPointEncodesAsFoundationDoes() throws {
        var random = SplitMix64(state: 7)
        var doubles: [Double] = [0, -0.0, 1, -1, 0.5, 0.1, 1e15, 1e16, 9_007_199_254_740_994, 1e-7, 1e20, 123.456e5, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        var floats: [Float] = [0, 1, 0.1, 1e10, 16_777_216, .greatestFiniteMagnitude, .leastNonzeroMagnitude]
        for _ in 0..<2_000 {
            let double = Double(bitPattern: random.next())
            if double.isFinite { doubles.append(double) }
            let float = Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))
            if float.isFinite { floats.append(float) }
        }
        try Self.expectSameBytes(doubles)
        try Self.expectSameBytes(floats)
        #expect(throws: EncodingError.self) { try CanonicalEncoder().encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try CanonicalEncoder().encode([Float.infinity]) }
    }

    // MARK: Keys and containers

    struct AwkwardKeys: Codable {
        var b = 1, B = 2, a = 3, A = 4, _a = 5, a_ = 6, a1 = 7, a10 = 8, a2 = 9, A1 = 10, ab = 11, aB = 12, Ab = 13, abc = 14
        var e = 15, f = 16, z = 17, Z = 18, é = 19, ä = 20, 日本 = 21, x_1 = 22, x1_ = 23, X = 24, __ = 25
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Keys in the order given, each with its position as its value.
    struct Keyed: Encodable {
        var keys: [String]
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            for (position, key) in keys.enumerated() { try container.encode(position, forKey: Key(key)) }
        }
    }

    @Test func R30_keysSortAsFoundationSortsThem() throws {
        try Self.expectSameBytes(AwkwardKeys())
        let awkward = [
            "b", "B", "a", "A", "_a", "a_", "a1", "a10", "a2", "A1", "ab", "abc", "Ab", "aB", "", " ", "~", "1", "10", "2", "a-b",
            "é", "e\u{301}", "f", "e", "ä", "日本", "😀", "\u{E000}", "\u{FFFF}", "a\u{0}", "a\u{1}b", "x\"y", "x\\y", "x/y", "\u{1E0A}\u{323}", "\u{1E0C}\u{307}",
        ]
        try Self.expectSameBytes(Keyed(keys: awkward))
        try Self.expectSameBytes(Keyed(keys: awkward.reversed()))
        // Keys equal as strings (repeated, or canonically equivalent spellings) are one key.
        try Self.expectSameBytes(Keyed(keys: ["x", "a", "x"]))
        try Self.expectSameBytes(Keyed(keys: ["e\u{301}", "\u{E9}", "f"]))
        try Self.expectSameBytes(Keyed(keys: ["\u{E9}", "f", "e\u{301}"]))
        var random = SplitMix64(state: 30)
        for _ in 0..<300 {
            try Self.expectSameBytes(Keyed(keys: (0..<random.below(12)).map { _ in random.chance(70) ? random.pick(awkward) : Self.text(&random) }))
        }
    }

    /// Containers the synthesized conformances never make but `Encoder` allows: an explicit null, a
    /// value asked twice for its container, super encoders used and unused, a value with no container.
    struct Containers: Encodable {
        struct Nothing: Encodable { func encode(to encoder: any Encoder) throws {} }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encodeNil(forKey: Key("null"))
            try container.encodeIfPresent(Int?.none, forKey: Key("absent"))
            try container.encode(Nothing(), forKey: Key("nothing"))
            var list = container.nestedUnkeyedContainer(forKey: Key("list"))
            try list.encodeNil()
            try list.encode(Nothing())
            var inner = list.nestedContainer(keyedBy: Key.self)
            try inner.encode("v", forKey: Key("z"))
            try inner.encode("w", forKey: Key("y"))
            try list.encode(3)
            _ = container.superEncoder()
            var single = container.superEncoder(forKey: Key("base")).singleValueContainer()
            try single.encode("from super")
            var again = encoder.container(keyedBy: Key.self)
            try again.encode(1, forKey: Key("again"))
            var nested = again.nestedContainer(keyedBy: Key.self, forKey: Key("n"))
            var deeper = nested.nestedUnkeyedContainer(forKey: Key("m"))
            try deeper.encode(true)
        }
    }

    @Test func R30_everyKindOfContainerEncodesAsFoundationDoes() throws {
        try Self.expectSameBytes(Containers())
        try Self.expectSameBytes([Containers(), Containers()])
        #expect(throws: EncodingError.self) { try CanonicalEncoder().encode(Containers.Nothing()) }
    }

    /// Writing to a container after its parent moved on is refused: the encoder writes as it goes.
    @Test func aContainerWrittenToAfterItsParentMovedOnIsRefused() {
        struct Interleaved: Encodable {
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Key.self)
                var nested = container.nestedContainer(keyedBy: Key.self, forKey: Key("a"))
                try container.encode(1, forKey: Key("b"))
                try nested.encode(2, forKey: Key("c"))
            }
        }
        #expect(throws: EncodingError.self) { try CanonicalEncoder().encode(Interleaved()) }
    }

    /// One encoder encodes value after value (the digest reuses its buffer).
    @Test func oneEncoderEncodesManyValuesInTurn() throws {
        let encoder = CanonicalEncoder()
        var random = SplitMix64(state: 99)
        for _ in 0..<50 {
            let sample = Self.sample(&random)
            try encoder.encode(sample)
            #expect(encoder.bytes == Array(try CanonicalJSON.referenceEncode(sample).utf8))
        }
    }
}

import Foundation
import RegistryCore
@testable import RegistryServer
import Testing

/// The `POST /v1/usage` body read straight from its bytes (R26): every valid body gives exactly the events
/// it holds, and bad input is refused with the path of the offending field, never a crash or a guess.
@Suite struct UsageBodyParserTests {
    static let at = "2026-11-29T10:00:00Z"
    /// `at` by hand: 20 786 days after 1970-01-01, plus ten hours.
    static let atMicroseconds: Int64 = 1_795_946_400_000_000

    // MARK: Helpers

    /// Parses `bytes` as the controller does: straight from a raw buffer.
    static func parse(_ bytes: [UInt8]) throws(UsageBodyParser.Failure) -> [UsageEvent] {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(UsageBodyParser.Failure) in try UsageBodyParser.parse(raw) }
        }
        return try result.get()
    }

    static func parse(_ text: String) throws(UsageBodyParser.Failure) -> [UsageEvent] { try parse(Array(text.utf8)) }

    /// The failure for `bytes`, or nil when they were accepted.
    static func refusal(_ bytes: [UInt8]) -> UsageBodyParser.Failure? {
        do throws(UsageBodyParser.Failure) {
            _ = try parse(bytes)
            return nil
        } catch {
            return error
        }
    }

    static func refusal(_ text: String) -> UsageBodyParser.Failure? { refusal(Array(text.utf8)) }

    /// One event's JSON: `overrides` replaces a member's raw JSON value, or removes it when nil;
    /// `extra` is appended as written (with its leading comma).
    static func event(_ overrides: [String: String?] = [:], extra: String = "") -> String {
        let defaults = [("grant", #""GR-1""#), ("tokens", "1200"), ("at", "\"\(at)\""), ("key", #""k-1""#)]
        var members: [String] = []
        for (name, value) in defaults {
            if let override = overrides[name] {
                if let raw = override { members.append("\"\(name)\":\(raw)") }
            } else {
                members.append("\"\(name)\":\(value)")
            }
        }
        return "{" + members.joined(separator: ",") + extra + "}"
    }

    static func body(_ events: String...) -> String { body(events) }
    static func body(_ events: [String]) -> String { "{\"events\":[" + events.joined(separator: ",") + "]}" }

    static func expected(grant: String = "GR-1", tokens: Int64 = 1200, key: String = "k-1", metadata: String? = nil) -> UsageEvent {
        UsageEvent(grant: grant, tokens: tokens, usedAt: Timestamp(microsecondsSince1970: atMicroseconds), key: key, metadata: metadata)
    }

    /// JSON text re-serialized with sorted keys: equal for equal JSON values, whatever the spacing and order.
    static func canonical(json text: String) throws -> Data {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])
    }

    // MARK: Valid bodies

    /// A body with every kind of JSON whitespace, in random runs between every pair of tokens, gives the
    /// same events as the compact body, and the metadata keeps its inner spacing byte for byte.
    @Test func R26_whitespaceIsAllowedWhereverJSONAllowsIt() throws {
        var random = SplitMix64(state: 26)
        let runs = ["", " ", "\t", "\n", "\r", "\r\n", " \t\n\r  "]
        func joined(_ tokens: [String]) -> String {
            var text = ""
            for (index, token) in tokens.enumerated() {
                if index > 0 { text += random.pick(runs) }
                text += token
            }
            return text
        }
        for _ in 0..<300 {
            let metadata = joined([
                "{", #""a""#, ":", "[", "1", ",", "-2.5e+3", ",", "{", "}", ",", "[", "]", ",", #""s p""#, "]", ",", #""b""#, ":", "null", "}",
            ])
            let first = joined([
                "{", #""grant""#, ":", #""GR-1""#, ",", #""tokens""#, ":", "1200", ",", #""at""#, ":", "\"\(Self.at)\"", ",",
                #""key""#, ":", #""k 1""#, ",", #""metadata""#, ":", metadata, "}",
            ])
            let second = joined(["{", #""key""#, ":", #""k-2""#, ",", #""at""#, ":", "\"\(Self.at)\"", ",", #""tokens""#, ":", "7", ",", #""grant""#, ":", #""GR-2""#, "}"])
            let text = random.pick(runs) + joined(["{", #""events""#, ":", "[", first, ",", second, "]", "}"]) + random.pick(runs)
            let events = try Self.parse(text)
            #expect(events == [Self.expected(key: "k 1", metadata: metadata), Self.expected(grant: "GR-2", tokens: 7, key: "k-2")], "\(text.debugDescription)")
        }
        #expect(try Self.parse(" \n{ \"events\" :\t[ ]\r\n}\t ") == [])
    }

    /// All 120 orders of an event's five members give the same event.
    @Test func R26_anEventsFieldsMayComeInAnyOrder() throws {
        let members = [#""grant":"GR-9""#, #""tokens":42"#, "\"at\":\"\(Self.at)\"", #""key":"k-9""#, #""metadata":{"x":[1,{"y":2}]}"#]
        var orders: [[String]] = [[]]
        for member in members {
            orders = orders.flatMap { order in (0...order.count).map { index in var copy = order; copy.insert(member, at: index); return copy } }
        }
        #expect(orders.count == 120)
        for order in orders {
            let text = Self.body("{" + order.joined(separator: ",") + "}")
            #expect(try Self.parse(text) == [Self.expected(grant: "GR-9", tokens: 42, key: "k-9", metadata: #"{"x":[1,{"y":2}]}"#)], "\(text)")
        }
    }

    /// Metadata of every JSON kind is kept as the exact text of the object (without the whitespace around it),
    /// wherever it stands in the event; an event without metadata has none.
    @Test func R26_metadataIsKeptByteForByteAsSent() throws {
        let objects = [
            "{}",
            "{ }",
            #"{"a":{"b":{"c":[[],{},[1,[2,[3]]]]}}}"#,
            #"{"n":[0,-0,1,-1,12.5,-0.25,1e3,1E+3,-2.5e-3,6.02E23,0.0,10,-10E-0],"t":true,"f":false,"z":null}"#,
            #"{"s":"q\"b\\s\/b\bf\fn\nr\rt\tu\u00e9\ud83d\ude00","ключ":"日本語 😀","":"","e\u0301":[true,false,null]}"#,
            "{\n  \"a\" : [ 1 ,\t2 ] ,\r\n \"b\":{ \"c\" : { } } , \"d\" : [ [ ] , \"]}\" ] }",
        ]
        for object in objects {
            let last = Self.body(Self.event(extra: ", \"metadata\" : \n\t" + object + " \r\n"))
            let first = Self.body("{\"metadata\":\t" + object + "\n," + String(Self.event().dropFirst()))
            for text in [last, first] {
                let events = try Self.parse(text)
                #expect(events == [Self.expected(metadata: object)], "\(text)")
                #expect(events.first?.metadata.map { Array($0.utf8) } == Array(object.utf8))
                #expect(try Self.canonical(json: object) == Self.canonical(json: try #require(events.first?.metadata)))
            }
        }
        #expect(try Self.parse(Self.body(Self.event())).first?.metadata == nil)
        // What is kept is what validation measures: spaces after an empty object are not metadata.
        let spaced = try Self.parse(Self.body(Self.event(extra: ",\"metadata\":{}" + String(repeating: " ", count: 3_000))))
        #expect(spaced.first?.metadata == "{}")
        #expect(UsageSubmission(party: PartyID(rawValue: 1), events: spaced).validate() == [])
    }

    /// Every JSON escape, in field names and in values, decodes to the right characters: the two-character
    /// escapes, `\u` in either case, and a surrogate pair to one scalar outside the BMP.
    @Test func R26_stringEscapesDecodeToTheRightCharacters() throws {
        let grant = #""GR-\"\\\/\b\f\n\r\t\u0041\u00e9\u00E9\u4e2d\ud83d\ude00\uD83D\uDE00-end""#
        let text = #"{"ev\u0065nts":[{"gr\u0061nt":"# + grant
            + #","\u0074okens":5,"a\u0074":"2026-11-29T10:00:00\u005a","ke\u0079":"\u006b\u0065\u0079\n","m\u0065tadata":{"\u0061":"\\"}}]}"#
        let events = try Self.parse(text)
        let decoded = "GR-\"\\/\u{08}\u{0C}\n\r\tAéé中😀😀-end"
        #expect(events == [Self.expected(grant: decoded, tokens: 5, key: "key\n", metadata: #"{"\u0061":"\\"}"#)])
        #expect(events.first.map { Array($0.grant.utf8) } == Array(decoded.utf8))
        #expect(events.first?.grant.unicodeScalars.filter { $0.value == 0x1F600 }.count == 2)
        // An escape first, last, or alone takes the slow path from its very start or to its very end.
        for (json, swift) in [(#""\n""#, "\n"), (#""\"x""#, "\"x"), (#""x\/""#, "x/"), (#""\ud83d\ude00""#, "😀"), (#""""#, "")] {
            let events = try Self.parse(Self.body(Self.event(["key": json])))
            #expect(events.first.map { Array($0.key.utf8) } == Array(swift.utf8), "\(json)")
        }
    }

    /// Non-ASCII UTF-8 in grants, keys, field names of metadata and metadata values passes through unchanged,
    /// byte for byte (String equality alone would hide a change of normal form), and so do DEL and NBSP.
    @Test func R26_nonASCIIUTF8PassesThroughUnchanged() throws {
        let grant = "GR-日本-e\u{301}-é-😀-\u{10FFFF}"
        let key = "ключ-🔑-\u{7F}-\u{A0}"
        let metadata = "{\"描述\":\"für Ärzte 😀\",\"e\u{301}\":\"é\"}"
        let events = try Self.parse(Self.body(Self.event(["grant": "\"\(grant)\"", "key": "\"\(key)\""], extra: ",\"metadata\":" + metadata)))
        let event = try #require(events.first)
        #expect(Array(event.grant.utf8) == Array(grant.utf8))
        #expect(Array(event.key.utf8) == Array(key.utf8))
        #expect(event.metadata.map { Array($0.utf8) } == Array(metadata.utf8))
    }

    /// `at` with fractional seconds (one to six digits), `Z`, `z`, `t` and offsets either side of UTC gives
    /// the time `Timestamp(iso8601:)` gives, and the hand-computed instant for the anchors.
    @Test func R26_atAcceptsFractionsAndOffsets() throws {
        let anchors: [(String, Int64)] = [
            ("2026-11-29T10:00:00Z", Self.atMicroseconds),
            ("2026-11-29T18:00:00+08:00", Self.atMicroseconds),
            ("2026-11-29T04:30:00-05:30", Self.atMicroseconds),
            ("2026-11-29t10:00:00z", Self.atMicroseconds),
            ("2026-11-29T10:00:00.5Z", Self.atMicroseconds + 500_000),
            ("2026-11-29T10:00:00.123456Z", Self.atMicroseconds + 123_456),
            ("2026-11-30T00:00:00.000001+14:00", Self.atMicroseconds + 1),
            ("1970-01-01T00:00:00Z", 0),
        ]
        for (text, microseconds) in anchors {
            let events = try Self.parse(Self.body(Self.event(["at": "\"\(text)\""])))
            #expect(events.first?.usedAt == Timestamp(microsecondsSince1970: microseconds), "\(text)")
            #expect(events.first?.usedAt == Timestamp(iso8601: text), "\(text)")
        }
        let more = ["2026-11-29T10:00:00.1+01:00", "2026-11-29T10:00:00.12-00:00", "2000-02-29T23:59:59.999999+23:59", "2099-12-31T00:00:00.0001-23:59"]
        for text in more {
            let expected = try #require(Timestamp(iso8601: text))
            #expect(try Self.parse(Self.body(Self.event(["at": "\"\(text)\""]))).first?.usedAt == expected, "\(text)")
        }
    }

    /// An empty `events` array is read as no events; the controller's validation refuses it afterwards.
    @Test func R26_anEmptyEventsArrayParsesToNoEventsAndValidationRefusesIt() throws {
        #expect(try Self.parse(#"{"events":[]}"#) == [])
        #expect(try Self.parse("{ \"events\" : [ \n ] }") == [])
        let problems = UsageSubmission(party: PartyID(rawValue: 1), events: []).validate()
        #expect(problems.map(\.field) == ["events"])
    }

    /// Events stamped alike share a parsed time, but each event still gets the time of its own `at`: runs of
    /// the same text, a different text for the same instant, a change and a change back.
    @Test func R26_repeatedAtIsCachedButEveryEventGetsItsOwnTime() throws {
        let stamps = [
            "2026-11-29T10:00:00Z", "2026-11-29T10:00:00Z", "2026-11-29T10:00:00Z", "2026-11-29T10:00:01Z", "2026-11-29T10:00:01Z",
            "2026-11-29T10:00:00Z", "2026-11-29T18:00:00+08:00", "2026-11-29T18:00:00+08:00", "2026-11-29T10:00:00.000001Z",
            "2026-11-29T10:00:00Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2026-11-29T10:00:00Z",
        ]
        let text = Self.body(stamps.enumerated().map { index, at in Self.event(["at": "\"\(at)\"", "key": "\"k-\(index)\""]) })
        let events = try Self.parse(text)
        #expect(events.count == stamps.count)
        for (event, at) in zip(events, stamps) {
            #expect(event.usedAt == Timestamp(iso8601: at), "\(event.key): \(at)")
        }
        #expect(events.map { $0.usedAt.microsecondsSince1970 - Self.atMicroseconds }.prefix(10) == [0, 0, 0, 1_000_000, 1_000_000, 0, 0, 0, 1, 0])
        // A bad `at` after a good one is still checked, not served from the cache.
        let bad = Self.refusal(Self.body(Self.event(), Self.event(["at": #""soon""#])))
        #expect(bad?.field == "events[1].at")
    }

    /// The cache of the last `at` starts empty, so an empty `at` in the first event must not be taken for a
    /// cache hit (it would silently become 1970-01-01): it is refused like any other bad time.
    @Test func R26_anEmptyAtIsRefusedEvenInTheFirstEvent() {
        let first = Self.refusal(Self.body(Self.event(["at": #""""#])))
        #expect(first?.field == "events[0].at", "an empty at in the first event was \(first.map { "refused: \($0)" } ?? "accepted")")
        let later = Self.refusal(Self.body(Self.event(), Self.event(["at": #""""#])))
        #expect(later?.field == "events[1].at")
    }

    /// Tokens are read as any 64-bit integer, negatives and zero included: their range is the business of
    /// `UsageSubmission.validate`, which then names the field.
    @Test func R26_negativeAndZeroTokensParseAndValidationRefusesThem() throws {
        let events = try Self.parse(Self.body(Self.event(["tokens": "-5"]), Self.event(["tokens": "-0"]), Self.event(["tokens": "0"])))
        #expect(events.map(\.tokens) == [-5, 0, 0])
        let problems = UsageSubmission(party: PartyID(rawValue: 1), events: events).validate()
        #expect(problems.map(\.field) == ["events[0].tokens", "events[1].tokens", "events[2].tokens"])
        let extremes = try Self.parse(Self.body(Self.event(["tokens": "9223372036854775807"]), Self.event(["tokens": "-9223372036854775807"])))
        #expect(extremes.map(\.tokens) == [Int64.max, -Int64.max])
    }

    /// A NUL (`\u0000`) in the grant, the key, or any key or value of the metadata is refused where it is
    /// read, naming the field: PostgreSQL stores no NUL in text or jsonb, and a group commit it fails would
    /// fail other tenants' events (issue 14, finding 9).
    @Test func F9_aNulInAnyStringIsRefusedNamingTheField() throws {
        let cases: [(String, String)] = [
            (Self.event(["grant": #""GR\u0000""#]), "events[0].grant"),
            (Self.event(["key": #""k\u0000""#]), "events[0].key"),
            (Self.event(extra: #","metadata":{"note":"a\u0000"}"#), "events[0].metadata"),
            (Self.event(extra: #","metadata":{"n\u0000":1}"#), "events[0].metadata (field name)"),
        ]
        for (event, field) in cases {
            let refusal = Self.refusal(Self.body(event))
            #expect(refusal?.field == field, "\(event)")
            #expect(refusal?.reason.contains("NUL") == true, "\(event)")
        }
    }

    // MARK: Differential

    /// Thousands of random valid bodies, serialized by `JSONSerialization` (its own escapes, key order and
    /// spacing), give exactly the generated events: strings byte for byte, tokens, times, and metadata
    /// equal as JSON values.
    @Test func R26_agreesWithJSONSerializationOnRandomBodies() throws {
        var random = SplitMix64(state: 0x5EED_0026)
        var events = 0
        var notTheObjectAlone: [String] = []
        for _ in 0..<3_000 {
            var generated: [GeneratedEvent] = []
            for _ in 0..<random.below(7) {
                let at = generated.last.flatMap { random.chance(50) ? $0.at : nil } ?? GeneratedEvent.time(&random)
                generated.append(GeneratedEvent(random: &random, at: at))
            }
            let options: JSONSerialization.WritingOptions = random.pick([[], [.prettyPrinted], [.withoutEscapingSlashes], [.prettyPrinted, .withoutEscapingSlashes]])
            let data = try JSONSerialization.data(withJSONObject: ["events": generated.map(\.json)], options: options)
            let text = String(decoding: data, as: UTF8.self)
            let parsed: [UsageEvent]
            do throws(UsageBodyParser.Failure) {
                parsed = try Self.parse(Array(data))
            } catch {
                Issue.record("refused \(error) for \(text)")
                continue
            }
            try #require(parsed.count == generated.count, "\(text)")
            for (event, expected) in zip(parsed, generated) {
                #expect(Array(event.grant.utf8) == Array(expected.grant.utf8), "\(text)")
                #expect(Array(event.key.utf8) == Array(expected.key.utf8), "\(text)")
                #expect(event.tokens == expected.tokens, "\(text)")
                #expect(event.usedAt == Timestamp(iso8601: expected.at), "\(text)")
                if let metadata = expected.metadata {
                    let alone = String(decoding: try JSONSerialization.data(withJSONObject: metadata), as: UTF8.self)
                    let read = try #require(event.metadata, "\(text)")
                    if !read.hasPrefix("{") || !read.hasSuffix("}") { notTheObjectAlone.append(read) }
                    #expect(try Self.canonical(json: read) == Self.canonical(json: alone), "\(read) vs \(alone)")
                } else {
                    #expect(event.metadata == nil, "\(text)")
                }
            }
            events += parsed.count
        }
        #expect(events > 5_000)
        // Kept as sent means the object's own text, nothing before or after it.
        #expect(notTheObjectAlone.count == 0, "\(notTheObjectAlone.count) metadata not the object alone, e.g. \(notTheObjectAlone.prefix(3).map(\.debugDescription))")
    }

    /// A usage event as generated: what the parser must give back.
    struct GeneratedEvent {
        var grant: String
        var tokens: Int64
        var at: String
        var key: String
        var metadata: [String: Any]?

        static let alphabet = [
            // No NUL: PostgreSQL cannot store it, and the parser refuses it (F9_aNulInAnyStringIsRefusedNamingTheField).
            "a", "Z", "0", "9", "-", "_", " ", "\"", "\\", "/", "\u{1}", "\u{8}", "\u{C}", "\n", "\r", "\t", "\u{1F}", "\u{7F}",
            "é", "e\u{301}", "中", "😀", "\u{2028}", "\u{FEFF}", "\u{10FFFF}",
        ]

        init(random: inout SplitMix64, at: String) {
            grant = random.chance(50) ? "GR-\(random.below(1_000_000))" : Self.string(&random)
            switch random.below(4) {
            case 0: tokens = Int64(random.below(100_000))
            case 1: tokens = max(Int64(bitPattern: random.next()), -Int64.max)
            case 2: tokens = -Int64(random.below(1_000))
            default: tokens = random.pick([0, 1, Int64.max, -Int64.max])
            }
            self.at = at
            key = Self.string(&random)
            metadata = random.chance(50) ? Self.object(&random, depth: 1) : nil
        }

        var json: [String: Any] {
            var json: [String: Any] = ["grant": grant, "tokens": NSNumber(value: tokens), "at": at, "key": key]
            if let metadata { json["metadata"] = metadata }
            return json
        }

        /// Foundation's reader drops a U+FEFF right after an escape (`"\\n<U+FEFF>x"` reads as "\\nx"), so the
        /// metadata, which is compared by reading it with Foundation, is made without one.
        static let metadataAlphabet = alphabet.filter { $0 != "\u{FEFF}" }

        static func string(_ random: inout SplitMix64, from letters: [String] = alphabet) -> String {
            var text = ""
            for _ in 0..<random.below(12) { text += random.pick(letters) }
            return text
        }

        static func time(_ random: inout SplitMix64) -> String {
            func pad(_ value: Int, _ width: Int) -> String {
                let text = String(value)
                return String(repeating: "0", count: width - text.count) + text
            }
            var text = "\(pad(1970 + random.below(130), 4))-\(pad(1 + random.below(12), 2))-\(pad(1 + random.below(28), 2))"
            text += random.pick(["T", "t"]) + "\(pad(random.below(24), 2)):\(pad(random.below(60), 2)):\(pad(random.below(60), 2))"
            if random.chance(50) {
                let digits = 1 + random.below(6)
                text += "." + pad(random.below(Int(pow(10, Double(digits)))), digits)
            }
            switch random.below(4) {
            case 0: text += "Z"
            case 1: text += "z"
            default: text += random.pick(["+", "-"]) + "\(pad(random.below(24), 2)):\(pad(random.below(60), 2))"
            }
            return text
        }

        static func object(_ random: inout SplitMix64, depth: Int) -> [String: Any] {
            var object: [String: Any] = [:]
            for _ in 0..<random.below(5) { object[string(&random, from: metadataAlphabet)] = value(&random, depth: depth + 1) }
            return object
        }

        static func value(_ random: inout SplitMix64, depth: Int) -> Any {
            switch random.below(depth >= 5 ? 6 : 8) {
            case 0: return string(&random, from: metadataAlphabet)
            case 1: return NSNumber(value: max(Int64(bitPattern: random.next()), -Int64.max))
            case 2: return NSNumber(value: random.pick([0.5, -0.25, 1e300, -2.5e-8, 123.456, 6.02e23, 1e-300, -1.5]))
            case 3: return random.chance(50)
            case 4: return NSNull()
            case 5: return NSNumber(value: random.below(1_000) - 500)
            case 6: return (0..<random.below(4)).map { _ in value(&random, depth: depth + 1) }
            default: return object(&random, depth: depth)
            }
        }
    }

    /// Thousands of ASCII mutations of valid bodies (bytes replaced, deleted, inserted, swapped) never crash
    /// the parser, and whatever it accepts is JSON that `JSONSerialization` reads to the same events.
    @Test func R26_mutatedBodiesAreRefusedOrReadAsJSONReadsThem() throws {
        let bases = [
            Self.body(Self.event(), Self.event(["tokens": "-12", "at": #""2026-11-29T10:00:00.5+08:00""#], extra: #","metadata":{"a":[1,-2.5e-3,true,false,null,{"b":"c"}],"d":{}}"#)),
            #"{"events":[{"metadata":{"s":"\u00e9\ud83d\ude00\"\\\/"},"key":"k\n\u0041","at":"2026-11-29T10:00:00Z","tokens":10,"grant":"GR\t2"}]}"#,
            Self.body(Self.event(["grant": #""GR-1""#]), Self.event(["grant": #""GR-2""#]), Self.event(["grant": #""GR-3""#, "key": #""""#])),
        ].map { Array($0.utf8) }
        let pool = Array(#"{}[]",:\ 0123456789aeEtfnulrx.-+/"#.utf8) + [0x01, 0x0A, 0x09, 0x7F]
        var random = SplitMix64(state: 0xF022)
        var accepted = 0
        for _ in 0..<20_000 {
            var bytes = random.pick(bases)
            for _ in 0..<(1 + random.below(3)) {
                let index = random.below(bytes.count)
                switch random.below(4) {
                case 0: bytes[index] = random.pick(pool)
                case 1: bytes.remove(at: index)
                case 2: bytes.insert(random.pick(pool), at: index)
                default: bytes.swapAt(index, random.below(bytes.count))
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            guard let events = try? Self.parse(bytes) else { continue }
            accepted += 1
            let document = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
            let list = try #require(document?["events"] as? [[String: Any]], "accepted what JSONSerialization refuses: \(text)")
            try #require(list.count == events.count, "\(text)")
            for (event, json) in zip(events, list) {
                #expect((json["grant"] as? String).map { Array($0.utf8) } == Array(event.grant.utf8), "\(text)")
                #expect((json["key"] as? String).map { Array($0.utf8) } == Array(event.key.utf8), "\(text)")
                #expect((json["tokens"] as? NSNumber)?.int64Value == event.tokens, "\(text)")
                #expect((json["at"] as? String).flatMap { Timestamp(iso8601: $0) } == event.usedAt, "\(text)")
                if let metadata = json["metadata"] {
                    let reference = try JSONSerialization.data(withJSONObject: metadata, options: [.sortedKeys])
                    let read = try #require(event.metadata, "\(text)")
                    #expect(try Self.canonical(json: read) == reference, "\(text)")
                } else {
                    #expect(event.metadata == nil, "\(text)")
                }
            }
        }
        #expect(accepted > 100)
    }

    // MARK: Refusals

    /// A bad body, the field its refusal must name, and words its reason must hold.
    struct Refusal: Sendable, CustomTestStringConvertible {
        var body: String
        var field: String
        var saying: String
        var testDescription: String { "\(field): \(body.debugDescription)" }

        init(_ body: String, _ field: String, _ saying: String) {
            self.body = body
            self.field = field
            self.saying = saying
        }
    }

    static func metadata(_ object: String) -> String { body(event(extra: ",\"metadata\":" + object)) }
    static let valid = event()

    static let refusals: [Refusal] = [
        // The document.
        Refusal("", "", "must be a JSON object"),
        Refusal("[]", "", "must be a JSON object"),
        Refusal("null", "", "must be a JSON object"),
        Refusal(#""events""#, "", "must be a JSON object"),
        Refusal("{}", "events", "required"),
        Refusal(#"{"evnets":[]}"#, "evnets", "unknown field"),
        Refusal(#"{"events":[],"events":[]}"#, "events", "twice"),
        Refusal(#"{"events":{}}"#, "events", "must be an array"),
        Refusal(#"{"events":null}"#, "events", "must be an array"),
        Refusal(#"{"events":"[]"}"#, "events", "must be an array"),
        Refusal(#"{"events" []}"#, "events", "':'"),
        Refusal(#"{events:[]}"#, "(field name)", "must be a string"),
        Refusal(#"{"events":[],}"#, "(field name)", "must be a string"),
        Refusal(#"{"events":[] "x":1}"#, "", "expected ','"),
        Refusal(#"{"events":[]}x"#, "", "after the JSON object"),
        Refusal(#"{"events":[]}}"#, "", "after the JSON object"),
        Refusal(#"{"events":[]} {"events":[]}"#, "", "after the JSON object"),
        Refusal("{\"events\":[]}\n,", "", "after the JSON object"),
        Refusal("{\"events\":[]}\u{0}", "", "after the JSON object"),
        // Events that are not objects, or not separated.
        Refusal(#"{"events":[1]}"#, "events[0]", "must be an object"),
        Refusal(body(valid, "[]"), "events[1]", "must be an object"),
        Refusal(body(valid, "null"), "events[1]", "must be an object"),
        Refusal(#"{"events":["# + valid + ",]}", "events[1]", "must be an object"),
        Refusal(#"{"events":["# + valid + " " + valid + "]}", "events", "expected ','"),
        Refusal(#"{"events":["# + valid + "}", "events", "expected ','"),
        // Unknown, duplicate and missing fields.
        Refusal(body(valid, valid, event(extra: #","colour":"red""#)), "events[2].colour", "unknown field"),
        Refusal(body(event(extra: #","Grant":"GR-1""#)), "events[0].Grant", "unknown field"),
        Refusal(body(event(extra: #","grant":"GR-2""#)), "events[0].grant", "twice"),
        Refusal(body(event(extra: #","tokens":1"#)), "events[0].tokens", "twice"),
        Refusal(body(event(extra: #","at":"2026-11-29T10:00:00Z""#)), "events[0].at", "twice"),
        Refusal(body(event(extra: #","key":"k-1""#)), "events[0].key", "twice"),
        Refusal(body(event(extra: #","metadata":{},"metadata":{}"#)), "events[0].metadata", "twice"),
        Refusal(body(event(["grant": nil])), "events[0].grant", "required"),
        Refusal(body(event(["tokens": nil])), "events[0].tokens", "required"),
        Refusal(body(event(["at": nil])), "events[0].at", "required"),
        Refusal(body(event(["key": nil])), "events[0].key", "required"),
        Refusal(body(valid, valid, valid, event(["key": nil])), "events[3].key", "required"),
        Refusal(body("{}"), "events[0].grant", "required"),
        Refusal(body(#"{"grant" "GR-1"}"#), "events[0].grant", "':'"),
        Refusal(body(#"{grant:"GR-1"}"#), "events[0] (field name)", "must be a string"),
        Refusal(body(#"{"grant":"GR-1",}"#), "events[0] (field name)", "must be a string"),
        Refusal(body(#"{"grant":"GR-1" "tokens":1}"#), "events[0]", "expected ','"),
        // Types of grant and key.
        Refusal(body(event(["grant": "12"])), "events[0].grant", "must be a string"),
        Refusal(body(event(["grant": "null"])), "events[0].grant", "must be a string"),
        Refusal(body(event(["key": "[]"])), "events[0].key", "must be a string"),
        // Tokens.
        Refusal(body(event(["tokens": #""1200""#])), "events[0].tokens", "integer"),
        Refusal(body(event(["tokens": "1.5"])), "events[0].tokens", "whole number"),
        Refusal(body(event(["tokens": "-1.0"])), "events[0].tokens", "whole number"),
        Refusal(body(event(["tokens": "1e3"])), "events[0].tokens", "whole number"),
        Refusal(body(event(["tokens": "1E3"])), "events[0].tokens", "whole number"),
        Refusal(body(event(["tokens": "01"])), "events[0].tokens", "leading zero"),
        Refusal(body(event(["tokens": "-01"])), "events[0].tokens", "leading zero"),
        Refusal(body(event(["tokens": "00"])), "events[0].tokens", "leading zero"),
        Refusal(body(event(["tokens": "99999999999999999999"])), "events[0].tokens", "too large"),
        Refusal(body(event(["tokens": "9223372036854775808"])), "events[0].tokens", "too large"),
        Refusal(body(event(["tokens": "true"])), "events[0].tokens", "integer"),
        Refusal(body(event(["tokens": "null"])), "events[0].tokens", "integer"),
        Refusal(body(event(["tokens": "-"])), "events[0].tokens", "integer"),
        Refusal(body(event(["tokens": "- 1"])), "events[0].tokens", "integer"),
        Refusal(body(event(["tokens": "+1"])), "events[0].tokens", "integer"),
        Refusal(body(event(["tokens": "12x"])), "events[0]", "expected ','"),
        // Times.
        Refusal(body(event(["at": #""soon""#])), "events[0].at", "ISO 8601"),
        Refusal(body(event(["at": #""2026-11-29T10:00:00""#])), "events[0].at", "ISO 8601"),
        Refusal(body(event(["at": #""2026-11-29""#])), "events[0].at", "ISO 8601"),
        Refusal(body(event(["at": #""2026-02-30T10:00:00Z""#])), "events[0].at", "ISO 8601"),
        Refusal(body(event(["at": #""2026-11-29T24:00:00Z""#])), "events[0].at", "ISO 8601"),
        Refusal(body(event(["at": #""2026-11-29T10:00:00.1234567Z""#])), "events[0].at", "ISO 8601"),
        Refusal(body(event(["at": #""2026-11-29T10:00:00+0800""#])), "events[0].at", "ISO 8601"),
        Refusal(body(event(["at": #"" 2026-11-29T10:00:00Z""#])), "events[0].at", "ISO 8601"),
        Refusal(body(event(["at": "1795946400"])), "events[0].at", "must be a string"),
        // Metadata that is not an object.
        Refusal(metadata("[]"), "events[0].metadata", "must be a JSON object"),
        Refusal(metadata(#""{}""#), "events[0].metadata", "must be a JSON object"),
        Refusal(metadata("null"), "events[0].metadata", "must be a JSON object"),
        Refusal(metadata("1"), "events[0].metadata", "must be a JSON object"),
        Refusal(metadata("true"), "events[0].metadata", "must be a JSON object"),
        // Malformed metadata.
        Refusal(metadata(#"{"a":1,}"#), "events[0].metadata (field name)", "must be a string"),
        Refusal(metadata(#"{"a" 1}"#), "events[0].metadata.a", "':'"),
        Refusal(metadata(#"{1:2}"#), "events[0].metadata (field name)", "must be a string"),
        Refusal(metadata(#"{"a":"xyz}"#), "events[0].metadata", "unterminated string"),
        Refusal(metadata(#"{"a":nope}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":yes}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":tru}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":truex}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":NaN}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":Infinity}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":01}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":1.}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":.5}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":1e}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":1e+}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":-}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":+1}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":[1 2]}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":[1,]}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":[,1]}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":1]"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":[1}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":1 "b":2}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":'x'}"#), "events[0].metadata", "malformed"),
        Refusal(metadata(#"{"a":"\x"}"#), "events[0].metadata", "invalid escape"),
        Refusal(metadata("{\"a\":\"\u{1}\"}"), "events[0].metadata", "control character"),
        // Control characters inside strings, before and after an escape, in values and names.
        Refusal(body(event(["grant": "\"GR\n1\""])), "events[0].grant", "control character"),
        Refusal(body(event(["grant": "\"GR\t1\""])), "events[0].grant", "control character"),
        Refusal(body(event(["key": "\"k\u{0}\""])), "events[0].key", "control character"),
        Refusal(body(event(["key": "\"\\tk\u{1F}\""])), "events[0].key", "control character"),
        Refusal(body(event(["at": "\"2026-11-29T10:00:00Z\r\""])), "events[0].at", "control character"),
        Refusal(body("{\"gr\u{1}ant\":\"GR-1\"}"), "events[0] (field name)", "control character"),
        Refusal("{\"ev\nents\":[]}", "(field name)", "control character"),
        // Escapes.
        Refusal(body(event(["grant": #""GR\x41""#])), "events[0].grant", "invalid escape"),
        Refusal(body(event(["grant": #""GR\'""#])), "events[0].grant", "invalid escape"),
        Refusal(body(event(["grant": #""\U0041""#])), "events[0].grant", "invalid escape"),
        Refusal(body(event(["grant": #""\u00G1""#])), "events[0].grant", "\\u escape"),
        Refusal(body(event(["grant": #""\u12""#])), "events[0].grant", "\\u escape"),
        Refusal(body(event(["key": #""k\ud83d""#])), "events[0].key", "unpaired surrogate"),
        Refusal(body(event(["key": #""\ude00k""#])), "events[0].key", "unpaired surrogate"),
        Refusal(body(event(["key": #""\ud83d\u0041""#])), "events[0].key", "unpaired surrogate"),
        Refusal(body(event(["key": #""\ud83d\ud83d""#])), "events[0].key", "unpaired surrogate"),
        Refusal(body(event(["key": #""\ud83d\n""#])), "events[0].key", "unpaired surrogate"),
        Refusal(body(event(["key": #""\ud83dx""#])), "events[0].key", "unpaired surrogate"),
        Refusal(metadata(#"{"a":"\udfff"}"#), "events[0].metadata", "unpaired surrogate"),
    ]

    /// Each bad body is refused with the path of the field at fault and a reason that says what is wrong.
    @Test(arguments: UsageBodyParserTests.refusals) func R26_badInputIsRefusedNamingTheField(_ refusal: Refusal) {
        guard let failure = Self.refusal(refusal.body) else {
            Issue.record("accepted \(refusal.body.debugDescription)")
            return
        }
        #expect(failure.field == refusal.field, "reason: \(failure.reason)")
        #expect(failure.reason.contains(refusal.saying), "reason: \(failure.reason)")
    }

    /// Metadata may nest exactly ``UsageBodyParser/maxDepth`` levels (the object itself is the first), in
    /// objects or arrays; one more is refused, and so is a hundred thousand, without recursion.
    @Test func R26_metadataDeeperThanMaxDepthIsRefused() throws {
        let depth = UsageBodyParser.maxDepth
        func arrays(_ levels: Int) -> String {
            #"{"a":"# + String(repeating: "[", count: levels - 1) + String(repeating: "]", count: levels - 1) + "}"
        }
        func objects(_ levels: Int) -> String {
            String(repeating: #"{"a":"#, count: levels - 1) + "{}" + String(repeating: "}", count: levels - 1)
        }
        for object in [arrays(depth), objects(depth)] {
            #expect(try Self.parse(Self.metadata(object)).first?.metadata == object)
        }
        for object in [arrays(depth + 1), objects(depth + 1), arrays(100_000), objects(100_000)] {
            let failure = Self.refusal(Self.metadata(object))
            #expect(failure?.field == "events[0].metadata")
            #expect(failure?.reason.contains("deeper than \(depth)") == true, "\(String(describing: failure))")
        }
    }

    /// Every proper prefix of valid bodies (cut inside names, strings, escapes, UTF-8 sequences, numbers,
    /// literals and metadata) is refused: never accepted, never a crash.
    @Test func R26_everyTruncatedBodyIsRefused() throws {
        let texts = [
            #"{"events":[{"grant":"GR-\u00e9\ud83d\ude00-日本","tokens":-1200,"at":"2026-11-29T10:00:00.125+08:00","key":"k\"1\\","#
                + #""metadata":{"a":[1,-2.5e-3,true,false,null,{"b":"c"}],"d":{},"e":[]}},"#
                + #"{"metadata":{},"key":"k2","at":"2026-11-29T10:00:00.125+08:00","tokens":0,"grant":"GR-2"}]}"#,
            " { \"events\" : [ " + Self.valid + " , " + Self.event(extra: ",\"metadata\":{ \"n\" : 12 }") + " ] } ",
            #"{"events":[]}"#,
        ]
        for text in texts {
            let bytes = Array(text.utf8)
            #expect(try Self.parse(bytes).count <= 2)
            for count in 0..<bytes.count where !bytes[count...].allSatisfy({ $0 == 0x20 }) {
                // A cut that only drops trailing spaces leaves a whole document: skipped by the `where`.
                let prefix = Array(bytes[..<count])
                #expect(Self.refusal(prefix) != nil, "accepted the first \(count) bytes: \(String(decoding: prefix, as: UTF8.self))")
            }
        }
    }

    /// ``Limits/maxUsageEventsPerRequest`` events are read; one more is refused as too many, before the
    /// extra event is even looked at.
    @Test func R26_moreEventsThanTheLimitAreRefused() throws {
        let limit = Limits.maxUsageEventsPerRequest
        let events = (0..<limit).map { Self.event(["key": "\"k-\($0)\""]) }
        #expect(try Self.parse(Self.body(events)).count == limit)
        for extra in [Self.valid, "{}", "x"] {
            let failure = Self.refusal(Self.body(events + [extra]))
            #expect(failure?.field == "events")
            #expect(failure?.reason.contains("at most \(limit)") == true, "\(String(describing: failure))")
        }
    }

    /// Bytes that are not UTF-8 are not JSON: a key made of them must be refused, not decoded with
    /// replacement characters, which would make two different idempotency keys the same key.
    @Test func R26_invalidUTF8IsRefusedNotReplaced() {
        let sequences: [[UInt8]] = [[0xFF], [0xFE], [0x80], [0xC0, 0xAF], [0xE6, 0x97], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]]
        for sequence in sequences {
            let bytes = Array(#"{"events":[{"grant":"GR-1","tokens":1,"at":"2026-11-29T10:00:00Z","key":"k"#.utf8) + sequence + Array(#""}]}"#.utf8)
            let failure = Self.refusal(bytes)
            let accepted = (try? Self.parse(bytes))?.first.map { Array($0.key.utf8) }
            #expect(failure?.field == "events[0].key", "key bytes \(sequence) accepted as key bytes \(String(describing: accepted))")
        }
    }
}

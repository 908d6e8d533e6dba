#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Writes the canonical JSON encoding (``CanonicalJSON``) straight into bytes: the very bytes of
/// Foundation's `JSONEncoder` with `[.sortedKeys, .withoutEscapingSlashes]`, without its tree of boxed
/// values. Reusable: one encoder encodes many values in turn, into the same buffer.
///
/// Foundation's behaviour it reproduces, established against swift-foundation (Swift 6.3 on Linux) and
/// held by `CanonicalJSONTests`:
/// - Keys sort by their UTF-8 bytes (Unicode scalar order: `"B" < "_a" < "a"`, `"a1" < "a10" < "a2"`,
///   `"e\u{301}" < "f" < "\u{E9}"`, `"\u{E000}" < "\u{FFFF}" < "😀"`). Keys that are equal as strings
///   (repeated, or canonically equivalent spellings) are one key: the first key's spelling, sorted by
///   its bytes, with the last value written.
/// - Strings escape `"` and `\`, `\b \t \n \f \r`, every other control character below U+0020 as
///   `\u00xx` in lowercase hex; U+007F, `/`, U+2028/U+2029, non-ASCII and emoji are written raw.
/// - Integers in decimal; floating point as Swift's `description` less a trailing `.0` (`1`, `0.5`,
///   `1e+20`, `-0`); NaN and infinities are an error.
/// - A value that asks for no container is `{}` (an error at the top level); an unused super encoder
///   is `{}` under `"super"`; asking a value's encoder twice for a keyed container gives one object.
/// - `Data`, `URL` and `Decimal`, which `JSONEncoder` writes its own way, are refused (the core has none).
///
/// Containers are written as they are filled. An object's members are written where they come and
/// put in order once the object is done (only when they came out of order); a container is done when
/// the value that asked for it has returned from `encode(to:)`, or when its parent is written to
/// again. Writing to a container after that is refused with an error: `Codable` conformances,
/// synthesized or the core's own, fill a container before moving on to its parent. ``codingPath`` is
/// always empty (nothing in the core reads it while encoding).
final class CanonicalEncoder: Encoder {
    /// The bytes of the last value encoded.
    private(set) var bytes: [UInt8] = []

    private enum Kind: UInt8 { case pending, object, array, done }

    /// An open container, or a value that has not yet asked for one (`pending`).
    private struct Frame {
        var kind: Kind
        var id: UInt32
        /// Offset just past the opening bracket.
        var contentStart: Int
        /// The object's first member in `members`.
        var membersStart: Int
        var count: Int
    }

    /// One member of an open object: its key, and where its `"key":` and its value start in `bytes`.
    private struct Member {
        var key: String
        var ascii: Bool
        var keyStart: Int
        var valueStart: Int
    }

    private var frames: [Frame] = []
    private var members: [Member] = []
    /// The frame of the value whose `encode(to:)` is running.
    private var level = 0
    private var nextID: UInt32 = 0
    /// An error found where the protocol gives no way to throw it (nested containers, super encoders).
    private var failure: EncodingError?

    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init() {}

    /// Encodes `value`, leaving its bytes in ``bytes`` (the previous value's are dropped).
    func encode(_ value: some Encodable) throws {
        bytes.removeAll(keepingCapacity: true)
        frames.removeAll(keepingCapacity: true)
        members.removeAll(keepingCapacity: true)
        failure = nil
        if writeScalar(value) { return }
        try refuseSpecialTypes(value)
        push(.pending)
        level = 0
        try value.encode(to: self)
        if frames[0].kind == .pending {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Top-level \(type(of: value)) did not encode any values."))
        }
        while !frames.isEmpty { closeTop() }
        if let failure { throw failure }
    }

    // MARK: Encoder

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        keyedContainer(at: level, id: frames[level].id)
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        unkeyedContainer(at: level, id: frames[level].id)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValue(encoder: self, index: level, id: frames[level].id)
    }

    fileprivate func keyedContainer<Key: CodingKey>(at index: Int, id: UInt32) -> KeyedEncodingContainer<Key> {
        if open(index, id, as: .object, bracket: UInt8(ascii: "{")) {
            return KeyedEncodingContainer(Keyed<Key>(encoder: self, index: index, id: id))
        }
        return KeyedEncodingContainer(Keyed<Key>(encoder: self, index: index, id: 0))
    }

    fileprivate func unkeyedContainer(at index: Int, id: UInt32) -> any UnkeyedEncodingContainer {
        Unkeyed(encoder: self, index: index, id: open(index, id, as: .array, bracket: UInt8(ascii: "[")) ? id : 0)
    }

    /// Makes the pending value at `index` a container of `kind` (or finds it one already).
    private func open(_ index: Int, _ id: UInt32, as kind: Kind, bracket: UInt8) -> Bool {
        do { try enter(index, id) } catch { return false }
        switch frames[index].kind {
        case .pending:
            bytes.append(bracket)
            frames[index].kind = kind
            frames[index].contentStart = bytes.count
            frames[index].membersStart = members.count
            return true
        case kind:
            return true
        default:
            failure = failure ?? EncodingError.invalidValue((), .init(codingPath: [], debugDescription: "a value asked for a \(kind) container after encoding something else"))
            return false
        }
    }

    // MARK: Writing

    private func push(_ kind: Kind) {
        nextID &+= 1
        if nextID == 0 { nextID = 1 }  // 0 marks a dead container
        frames.append(Frame(kind: kind, id: nextID, contentStart: bytes.count, membersStart: members.count, count: 0))
    }

    /// Checks the container at `index` is still open and closes those opened after it.
    private func enter(_ index: Int, _ id: UInt32) throws {
        guard index < frames.count, frames[index].id == id, id != 0 else {
            let error = EncodingError.invalidValue((), .init(codingPath: [], debugDescription: "written to a container that is done (CanonicalEncoder fills containers in turn)"))
            failure = failure ?? error
            throw error
        }
        while frames.count > index + 1 { closeTop() }
    }

    /// `"key":` in the object at `index`.
    fileprivate func key(_ name: String, in index: Int, _ id: UInt32) throws {
        try enter(index, id)
        if frames[index].count > 0 { bytes.append(UInt8(ascii: ",")) }
        frames[index].count += 1
        let keyStart = bytes.count
        let ascii = string(name)
        bytes.append(UInt8(ascii: ":"))
        members.append(Member(key: name, ascii: ascii, keyStart: keyStart, valueStart: bytes.count))
    }

    /// The separator before an element of the array at `index`.
    fileprivate func element(in index: Int, _ id: UInt32) throws {
        try enter(index, id)
        if frames[index].count > 0 { bytes.append(UInt8(ascii: ",")) }
        frames[index].count += 1
    }

    /// Claims the pending value at `index` for one single value.
    fileprivate func single(in index: Int, _ id: UInt32) throws {
        try enter(index, id)
        guard frames[index].kind == .pending else {
            throw EncodingError.invalidValue((), .init(codingPath: [], debugDescription: "a single value container encoded twice"))
        }
        frames[index].kind = .done
    }

    /// A nested container or super encoder's value, right after its key or separator.
    fileprivate func pushPending() -> (index: Int, id: UInt32) {
        push(.pending)
        return (frames.count - 1, nextID)
    }

    fileprivate func value<T: Encodable>(_ value: T) throws {
        if writeScalar(value) { return }
        try refuseSpecialTypes(value)
        let outer = level
        push(.pending)
        level = frames.count - 1
        try value.encode(to: self)
        while frames.count > level { closeTop() }
        level = outer
    }

    /// The common leaves written without a frame; false for anything else.
    @inline(__always)
    private func writeScalar<T: Encodable>(_ value: T) -> Bool {
        if T.self == String.self { string(unsafeBitCast(value, to: String.self)); return true }
        if T.self == Int64.self { integer(unsafeBitCast(value, to: Int64.self)); return true }
        if T.self == Int.self { integer(unsafeBitCast(value, to: Int.self)); return true }
        if T.self == Bool.self { bool(unsafeBitCast(value, to: Bool.self)); return true }
        return false
    }

    private func refuseSpecialTypes<T>(_ value: T) throws {
        if T.self == Data.self || T.self == URL.self || T.self == Decimal.self {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "\(T.self) is not part of the canonical encoding"))
        }
    }

    private func closeTop() {
        let frame = frames.removeLast()
        switch frame.kind {
        case .pending: bytes.append(contentsOf: [UInt8(ascii: "{"), UInt8(ascii: "}")])
        case .object: closeObject(frame)
        case .array: bytes.append(UInt8(ascii: "]"))
        case .done: break
        }
    }

    /// Puts the object's members in key order (when they came out of order) and closes it.
    private func closeObject(_ frame: Frame) {
        let first = frame.membersStart
        var inOrder = true
        for index in first..<members.count {
            // Non-ASCII keys may be spelt apart yet equal as strings (canonically equivalent).
            if !members[index].ascii || (index > first && !members[index - 1].key.utf8.lexicographicallyPrecedes(members[index].key.utf8)) {
                inOrder = false
                break
            }
        }
        if !inOrder { reorderMembers(from: first, contentStart: frame.contentStart) }
        members.removeSubrange(first...)
        bytes.append(UInt8(ascii: "}"))
    }

    /// Rewrites the members of the object whose content starts at `base` in key order, the order of
    /// their UTF-8 bytes. Keys equal as strings (repeated, or canonically equivalent) are one member:
    /// the first key's spelling, in its place, with the last value.
    private func reorderMembers(from first: Int, contentStart base: Int) {
        var unique: [(keyed: Int, valued: Int)] = []
        if members[first...].allSatisfy(\.ascii) {
            // ASCII keys are equal only when spelt alike: adjacent once sorted (by position among equals).
            let order = (first..<members.count).sorted {
                let (left, right) = (members[$0].key.utf8, members[$1].key.utf8)
                return left.lexicographicallyPrecedes(right) || (left.elementsEqual(right) && $0 < $1)
            }
            for index in order {
                if let last = unique.last, members[last.keyed].key.utf8.elementsEqual(members[index].key.utf8) {
                    unique[unique.count - 1].valued = index
                } else {
                    unique.append((index, index))
                }
            }
        } else {
            var slots: [String: Int] = [:]
            for index in first..<members.count {
                if let slot = slots[members[index].key] {
                    unique[slot].valued = index
                } else {
                    slots[members[index].key] = unique.count
                    unique.append((index, index))
                }
            }
            unique.sort { members[$0.keyed].key.utf8.lexicographicallyPrecedes(members[$1.keyed].key.utf8) }
        }
        let region = Array(bytes[base...])
        let end = bytes.count
        bytes.removeSubrange(base...)
        for (position, member) in unique.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            let keyed = members[member.keyed]
            let valueEnd = member.valued + 1 < members.count ? members[member.valued + 1].keyStart - 1 : end
            bytes.append(contentsOf: region[(keyed.keyStart - base)..<(keyed.valueStart - base)])
            bytes.append(contentsOf: region[(members[member.valued].valueStart - base)..<(valueEnd - base)])
        }
    }

    fileprivate func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    fileprivate func bool(_ value: Bool) {
        value ? raw("true") : raw("false")
    }

    /// The string literal; returns whether the string is all ASCII.
    @discardableResult
    fileprivate func string(_ value: String) -> Bool {
        var value = value
        var ascii = true
        bytes.append(UInt8(ascii: "\""))
        value.withUTF8 { utf8 in
            var run = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte >= 0x80 else { continue }
                if byte >= 0x80 {
                    ascii = false
                    continue
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run..<index]))
                run = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                default:
                    let hex: StaticString = "0123456789abcdef"
                    raw("u00")
                    bytes.append(hex.utf8Start[Int(byte >> 4)])
                    bytes.append(hex.utf8Start[Int(byte & 0xF)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run...]))
        }
        bytes.append(UInt8(ascii: "\""))
        return ascii
    }

    fileprivate func integer<T: FixedWidthInteger>(_ value: T) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = UInt64(value.magnitude)
        var digits = 1
        var rest = magnitude
        while rest >= 10 { rest /= 10; digits += 1 }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        bytes.withUnsafeMutableBufferPointer { buffer in
            var index = start + digits - 1
            repeat {
                buffer[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                index -= 1
            } while magnitude > 0
        }
    }

    fileprivate func floatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Unable to encode \(T.self).\(value) directly in JSON."))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }
}

/// One encoder per `superEncoder()`: the value under its key, written when it asks for a container.
private struct SuperEncoder: Encoder {
    let encoder: CanonicalEncoder
    let index: Int
    let id: UInt32
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> { encoder.keyedContainer(at: index, id: id) }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { encoder.unkeyedContainer(at: index, id: id) }
    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValue(encoder: encoder, index: index, id: id) }
}

private struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: CanonicalEncoder
    let index: Int
    let id: UInt32
    var codingPath: [any CodingKey] { [] }

    private func key(_ key: Key) throws { try encoder.key(key.stringValue, in: index, id) }

    mutating func encodeNil(forKey key: Key) throws { try self.key(key); encoder.raw("null") }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try self.key(key); encoder.bool(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { try self.key(key); encoder.string(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try self.key(key); try encoder.floatingPoint(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try self.key(key); try encoder.floatingPoint(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try self.key(key); encoder.integer(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try self.key(key); encoder.integer(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try self.key(key); encoder.integer(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try self.key(key); encoder.integer(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try self.key(key); encoder.integer(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try self.key(key); encoder.integer(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try self.key(key); encoder.integer(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try self.key(key); encoder.integer(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try self.key(key); encoder.integer(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try self.key(key); encoder.integer(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try self.key(key); try encoder.value(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = pending(key.stringValue)
        return encoder.keyedContainer(at: nested.index, id: nested.id)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = pending(key.stringValue)
        return encoder.unkeyedContainer(at: nested.index, id: nested.id)
    }

    mutating func superEncoder() -> any Encoder { superEncoder(named: "super") }
    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key.stringValue) }

    private func superEncoder(named name: String) -> any Encoder {
        let nested = pending(name)
        return SuperEncoder(encoder: encoder, index: nested.index, id: nested.id)
    }

    /// The key, then a value yet to be written (id 0, a dead one, when the container is done).
    private func pending(_ name: String) -> (index: Int, id: UInt32) {
        do { try encoder.key(name, in: index, id) } catch { return (index, 0) }
        return encoder.pushPending()
    }
}

/// The scalar writes of unkeyed and single value containers: each prepares its place, then writes.
private protocol ValuePlace {
    var encoder: CanonicalEncoder { get }
    mutating func prepare() throws
}

extension ValuePlace {
    mutating func encodeNil() throws { try prepare(); encoder.raw("null") }
    mutating func encode(_ value: Bool) throws { try prepare(); encoder.bool(value) }
    mutating func encode(_ value: String) throws { try prepare(); encoder.string(value) }
    mutating func encode(_ value: Double) throws { try prepare(); try encoder.floatingPoint(value) }
    mutating func encode(_ value: Float) throws { try prepare(); try encoder.floatingPoint(value) }
    mutating func encode(_ value: Int) throws { try prepare(); encoder.integer(value) }
    mutating func encode(_ value: Int8) throws { try prepare(); encoder.integer(value) }
    mutating func encode(_ value: Int16) throws { try prepare(); encoder.integer(value) }
    mutating func encode(_ value: Int32) throws { try prepare(); encoder.integer(value) }
    mutating func encode(_ value: Int64) throws { try prepare(); encoder.integer(value) }
    mutating func encode(_ value: UInt) throws { try prepare(); encoder.integer(value) }
    mutating func encode(_ value: UInt8) throws { try prepare(); encoder.integer(value) }
    mutating func encode(_ value: UInt16) throws { try prepare(); encoder.integer(value) }
    mutating func encode(_ value: UInt32) throws { try prepare(); encoder.integer(value) }
    mutating func encode(_ value: UInt64) throws { try prepare(); encoder.integer(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try prepare(); try encoder.value(value) }
}

private struct Unkeyed: UnkeyedEncodingContainer, ValuePlace {
    let encoder: CanonicalEncoder
    let index: Int
    let id: UInt32
    var codingPath: [any CodingKey] { [] }
    private(set) var count = 0

    init(encoder: CanonicalEncoder, index: Int, id: UInt32) {
        self.encoder = encoder
        self.index = index
        self.id = id
    }

    /// The separator before the element.
    mutating func prepare() throws {
        try encoder.element(in: index, id)
        count += 1
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = pending()
        return encoder.keyedContainer(at: nested.index, id: nested.id)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = pending()
        return encoder.unkeyedContainer(at: nested.index, id: nested.id)
    }

    mutating func superEncoder() -> any Encoder {
        let nested = pending()
        return SuperEncoder(encoder: encoder, index: nested.index, id: nested.id)
    }

    private mutating func pending() -> (index: Int, id: UInt32) {
        do { try prepare() } catch { return (index, 0) }
        return encoder.pushPending()
    }
}

private struct SingleValue: SingleValueEncodingContainer, ValuePlace {
    let encoder: CanonicalEncoder
    let index: Int
    let id: UInt32
    var codingPath: [any CodingKey] { [] }

    /// Claims the value's place (once).
    mutating func prepare() throws { try encoder.single(in: index, id) }
}

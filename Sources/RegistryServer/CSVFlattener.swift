import Foundation

// One `Encodable` value as CSV cells by column name: the shape the JSON has, flattened. A nested
// object's members become dotted columns (`holder.id`); an array of scalars is one column, its elements
// joined with `;`; an array of objects is one column per member (`holders.name`), each joined with `;`
// in element order (an element without the member gives an empty piece). `nil` is an empty cell, a
// Boolean `true`/`false`, a number as the JSON encoder writes it. Not flattened (a programmer error,
// caught the first time the type is served): arrays within arrays, objects within array elements, and
// dictionaries (their keys are data, not columns).

/// The cells of one value, and the columns in the order the value encodes them.
final class CSVCells {
    enum Mode {
        /// Deriving a type's columns from its ``CSVRow/csvExample``: every optional object must be
        /// present and every array hold an element, or the columns under them are unknown.
        case header
        /// One row: a `nil` object or an empty array leaves its columns empty.
        case row
    }

    let mode: Mode
    private(set) var columns: [String] = []
    private(set) var values: [String: [String]] = [:]
    /// The columns of the arrays met, to check that the example filled them.
    private(set) var arrays: [String] = []
    /// Why the value cannot be flattened (the first reason), if it cannot.
    private(set) var failure: String?

    init(mode: Mode) {
        self.mode = mode
    }

    func append(_ text: String, to column: String) {
        if values[column] == nil {
            columns.append(column)
            values[column] = [text]
        } else {
            values[column, default: []].append(text)
        }
    }

    /// A scalar that is `nil`: a column with nothing in it (or an empty piece inside an array).
    func appendNil(to column: String, inArray: Bool) {
        if inArray {
            append("", to: column)
        } else if values[column] == nil {
            columns.append(column)
            values[column] = []
        }
    }

    func beginArray(_ column: String) {
        if mode == .header { arrays.append(column) }
    }

    /// In header mode, fails unless every array met wrote at least one column.
    func checkArraysFilled() {
        for array in arrays where !columns.contains(where: { $0 == array || $0.hasPrefix(array + ".") }) {
            fail("\(array) is empty in the example: every array must hold an element")
        }
    }

    func fail(_ reason: String) {
        if failure == nil { failure = reason }
    }

    /// The cell of `column`: its pieces joined with `;`, empty when it has none.
    func cell(_ column: String) -> String {
        guard let pieces = values[column] else { return "" }
        return pieces.count == 1 ? pieces[0] : pieces.joined(separator: ";")
    }
}

/// Writes a value's scalars into ``CSVCells``.
struct CSVFlattener: Encoder {
    let cells: CSVCells
    /// The column this position writes to: "" at the top, `holder` inside the member `holder`.
    let column: String
    /// The column of the array this position is inside, if any: scalars there add pieces to their column.
    let array: String?
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Keyed<Key>(flattener: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if array != nil { cells.fail("\(column): an array within an array is not flattened") }
        if column.isEmpty { cells.fail("a row must be an object, not an array") }
        cells.beginArray(column)
        return Unkeyed(flattener: CSVFlattener(cells: cells, column: column, array: column, codingPath: codingPath))
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        Single(flattener: self)
    }

    func member(_ key: some CodingKey) -> CSVFlattener {
        let name = column.isEmpty ? key.stringValue : column + "." + key.stringValue
        if let array, column != array { cells.fail("\(name): an object within an array element is not flattened") }
        return CSVFlattener(cells: cells, column: name, array: array, codingPath: codingPath + [key])
    }

    func write(_ text: String) {
        if column.isEmpty { cells.fail("a row must be an object, not a single value") }
        cells.append(text, to: column)
    }

    func writeNil() {
        cells.appendNil(to: column, inArray: array != nil)
    }

    /// A scalar as its text; anything else through its own `encode(to:)`, at this column.
    func write<T: Encodable>(_ value: T) throws {
        if let scalar = value as? any CSVScalar {
            write(try scalar.csvText())
            return
        }
        try value.encode(to: self)
    }

    /// An optional object or array that is absent: its columns are unknown from this value.
    func writeAbsent<T>(_: T.Type) {
        if T.self is any CSVScalar.Type {
            writeNil()
        } else if cells.mode == .header {
            cells.fail("\(column) is nil in the example: every optional object and array must be present")
        }
    }

    static func number(_ value: Double) throws -> String {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "a CSV number must be finite, as in JSON"))
        }
        // As the JSON encoder writes it: Swift's description, less a trailing ".0".
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    private struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let flattener: CSVFlattener
        var codingPath: [any CodingKey] { flattener.codingPath }

        private func at(_ key: Key) -> CSVFlattener { flattener.member(key) }

        mutating func encodeNil(forKey key: Key) throws { at(key).writeNil() }
        mutating func encode(_ value: Bool, forKey key: Key) throws { at(key).write(value ? "true" : "false") }
        mutating func encode(_ value: String, forKey key: Key) throws { at(key).write(value) }
        mutating func encode(_ value: Double, forKey key: Key) throws { at(key).write(try CSVFlattener.number(value)) }
        mutating func encode(_ value: Float, forKey key: Key) throws { at(key).write(try CSVFlattener.number(Double(value))) }
        mutating func encode(_ value: Int, forKey key: Key) throws { at(key).write(String(value)) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { at(key).write(String(value)) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { at(key).write(String(value)) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { at(key).write(String(value)) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { at(key).write(String(value)) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { at(key).write(String(value)) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { at(key).write(String(value)) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { at(key).write(String(value)) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { at(key).write(String(value)) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { at(key).write(String(value)) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try at(key).write(value) }

        // Optional members: the synthesized `encode(to:)` calls these. A `nil` still names its column, so
        // that a row's columns do not depend on which of its values are present.
        mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try optional(value, key) }
        mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
            guard let value else { return at(key).writeAbsent(T.self) }
            try at(key).write(value)
        }

        private func optional<T: Encodable>(_ value: T?, _ key: Key) throws {
            guard let value else { return at(key).writeNil() }
            try at(key).write(value)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            at(key).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            at(key).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder { flattener }
        mutating func superEncoder(forKey key: Key) -> any Encoder { at(key) }
    }

    private struct Unkeyed: UnkeyedEncodingContainer {
        let flattener: CSVFlattener
        var count = 0
        var codingPath: [any CodingKey] { flattener.codingPath }

        mutating func encodeNil() throws {
            count += 1
            flattener.writeNil()
        }

        mutating func encode<T: Encodable>(_ value: T) throws {
            count += 1
            try flattener.write(value)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            count += 1
            return flattener.container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            count += 1
            return flattener.unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder { flattener }
    }

    private struct Single: SingleValueEncodingContainer {
        let flattener: CSVFlattener
        var codingPath: [any CodingKey] { flattener.codingPath }

        mutating func encodeNil() throws { flattener.writeNil() }
        mutating func encode<T: Encodable>(_ value: T) throws { try flattener.write(value) }
    }
}

/// A value written as one cell: the standard library's scalars, as the JSON encoder writes them.
protocol CSVScalar {
    func csvText() throws -> String
}

extension String: CSVScalar { func csvText() -> String { self } }
extension Bool: CSVScalar { func csvText() -> String { self ? "true" : "false" } }
extension Double: CSVScalar { func csvText() throws -> String { try CSVFlattener.number(self) } }
extension Float: CSVScalar { func csvText() throws -> String { try CSVFlattener.number(Double(self)) } }
extension Int: CSVScalar { func csvText() -> String { String(self) } }
extension Int8: CSVScalar { func csvText() -> String { String(self) } }
extension Int16: CSVScalar { func csvText() -> String { String(self) } }
extension Int32: CSVScalar { func csvText() -> String { String(self) } }
extension Int64: CSVScalar { func csvText() -> String { String(self) } }
extension UInt: CSVScalar { func csvText() -> String { String(self) } }
extension UInt8: CSVScalar { func csvText() -> String { String(self) } }
extension UInt16: CSVScalar { func csvText() -> String { String(self) } }
extension UInt32: CSVScalar { func csvText() -> String { String(self) } }
extension UInt64: CSVScalar { func csvText() -> String { String(self) } }

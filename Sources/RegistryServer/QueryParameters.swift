import HTTPTypes
import Hummingbird
import HummingbirdCore
import RegistryCore

/// A request's query parameters, parsed once and read by type: the one way handlers read the query. A
/// value that does not parse, or is out of its range, is a 400 problem naming the parameter and what it
/// takes (`RouteTable` has already refused parameters the operation does not list, and repeats).
struct QueryParameters {
    private let values: FlatDictionary<Substring, Substring>

    init(_ request: Request) {
        values = request.uri.queryParameters
    }

    /// The raw text of `name`, if given.
    func text(_ name: String) -> Substring? { values[Substring(name)] }

    /// Non-empty text, required.
    func requiredText(_ name: String) throws -> Substring {
        guard let text = text(name), !text.isEmpty else { throw Problem.invalidField(name, "required") }
        return text
    }

    /// A record id (1 to 18 digits, no sign, no leading zeros).
    func id(_ name: String) throws -> Int64? {
        guard let text = text(name) else { return nil }
        guard let id = StrictID.parse(text) else { throw Problem.invalidField(name, StrictID.reason) }
        return id
    }

    func requiredID(_ name: String) throws -> Int64 {
        guard let id = try id(name) else { throw Problem.invalidField(name, "required, " + StrictID.reason) }
        return id
    }

    /// A whole number within `range`.
    func integer<T: FixedWidthInteger>(_ name: String, in range: ClosedRange<T>) throws -> T? {
        guard let text = text(name) else { return nil }
        guard let value = T(text, radix: 10), range.contains(value) else {
            throw Problem.invalidField(name, "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func requiredInteger<T: FixedWidthInteger>(_ name: String, in range: ClosedRange<T>) throws -> T {
        guard let value = try integer(name, in: range) else {
            throw Problem.invalidField(name, "required, a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// One of an enumeration's values.
    func choice<T: RawRepresentable & CaseIterable>(_ name: String, _: T.Type) throws -> T? where T.RawValue == String {
        guard let text = text(name) else { return nil }
        guard let value = T(rawValue: String(text)) else {
            throw Problem.invalidField(name, "one of: " + T.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }

    /// `true` or `false`.
    func flag(_ name: String) throws -> Bool? {
        switch text(name) {
        case nil: return nil
        case "true": return true
        case "false": return false
        default: throw Problem.invalidField(name, "true or false")
        }
    }

    /// A civil date, `YYYY-MM-DD`.
    func date(_ name: String) throws -> CivilDate? {
        guard let text = text(name) else { return nil }
        guard let date = CivilDate(String(text)) else { throw Problem.invalidField(name, "a date, YYYY-MM-DD") }
        return date
    }

    func requiredDate(_ name: String) throws -> CivilDate {
        guard let date = try date(name) else { throw Problem.invalidField(name, "required, a date, YYYY-MM-DD") }
        return date
    }
}

/// One encoded bind parameter: its type and its binary value (`nil` for SQL NULL).
public struct PostgresBind: Sendable {
    public var type: PostgresType
    public var bytes: [UInt8]?

    public init(_ value: some PostgresEncodable) {
        let type = Swift.type(of: value).postgresType
        self.type = type
        if value.isPostgresNull {
            self.bytes = nil
        } else {
            var bytes: [UInt8] = []
            value.encode(into: &bytes)
            self.bytes = bytes
        }
    }
}

/// An ordered list of bind parameters, the values for `$1, $2, …`.
public struct PostgresBindings: Sendable {
    public private(set) var binds: [PostgresBind]

    public init() { binds = [] }

    /// Bindings from values in order: `PostgresBindings(id, name, createdAt)`.
    public init<each Value: PostgresEncodable>(_ value: repeat each Value) {
        binds = []
        for item in repeat each value {
            binds.append(PostgresBind(item))
        }
    }

    public mutating func append(_ value: some PostgresEncodable) {
        binds.append(PostgresBind(value))
    }

    public var count: Int { binds.count }
}

/// A SQL statement with its bind parameters.
///
/// Written as a string literal with interpolations, every interpolated value becomes a bind parameter
/// (`$1`, `$2`, …) and never part of the SQL text:
///
/// ```swift
/// let query: PostgresQuery = "SELECT title FROM dataset WHERE holder = \(partyID) AND grade = \(grade)"
/// ```
///
/// SQL text assembled from strings must be spelled ``init(unsafeSQL:binds:)`` so that it stands out in
/// review; identifiers can be interpolated safely with `\(identifier: name)`.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public var sql: String
    public var bindings: PostgresBindings

    /// A statement whose text is trusted as written. Values still belong in `binds`, referenced as `$n`.
    public init(unsafeSQL sql: String, binds: PostgresBindings = PostgresBindings()) {
        self.sql = sql
        self.bindings = binds
    }

    public init(stringLiteral value: String) {
        self.sql = value
        self.bindings = PostgresBindings()
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.bindings = stringInterpolation.bindings
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql: String
        var bindings: PostgresBindings

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            bindings = PostgresBindings()
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Appends a value as the next bind parameter.
        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            bindings.append(value)
            sql += "$\(bindings.count)"
        }

        /// Appends an optional value as the next bind parameter; `nil` is SQL NULL.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            bindings.append(value)
            sql += "$\(bindings.count)"
        }

        /// Appends a double-quoted identifier (table or column name); embedded quotes are doubled.
        public mutating func appendInterpolation(identifier: String) {
            sql += PostgresIdentifier.quote(identifier)
        }
    }

    /// The SQL text and the bind types; never the values, which may be personal data.
    public var description: String {
        "\(sql) -- \(bindings.count) binds: \(bindings.binds.map { $0.type.description }.joined(separator: ", "))"
    }
}

/// Quoting of SQL identifiers.
public enum PostgresIdentifier {
    /// `table` → `"table"`, `we"ird` → `"we""ird"`.
    public static func quote(_ identifier: String) -> String {
        var quoted = "\""
        for character in identifier {
            quoted.append(character)
            if character == "\"" { quoted.append("\"") }
        }
        return quoted + "\""
    }
}

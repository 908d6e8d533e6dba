private import CLibPQ

/// The rows of one statement's result, in binary format. Owns the libpq result and frees it.
///
/// Not `Sendable`: decode the rows into your own values inside the connection closure and return those.
public final class PostgresResult {
    private let handle: OpaquePointer
    /// Number of rows.
    public let count: Int
    /// Number of columns.
    public let columnCount: Int

    init(taking handle: OpaquePointer) {
        self.handle = handle
        self.count = Int(PQntuples(handle))
        self.columnCount = Int(PQnfields(handle))
    }

    deinit { PQclear(handle) }

    /// Rows affected by an INSERT, UPDATE, DELETE, MERGE, COPY or SELECT (`PQcmdTuples`).
    public var affectedRows: Int {
        guard let text = PQcmdTuples(handle) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    /// The full command status, e.g. "INSERT 0 3".
    public var commandStatus: String {
        guard let text = PQcmdStatus(handle) else { return "" }
        return String(cString: text)
    }

    /// The column names, in order.
    public var columnNames: [String] {
        (0..<columnCount).map { String(cString: PQfname(handle, Int32($0))) }
    }

    /// Each column's type OID.
    var columnTypes: [PostgresType] {
        (0..<columnCount).map { PostgresType(rawValue: PQftype(handle, Int32($0))) }
    }

    /// The index of a column by name, or nil.
    public func columnIndex(named name: String) -> Int? {
        let index = Int(PQfnumber(handle, name))
        return index >= 0 ? index : nil
    }

    /// The row at `index`.
    public subscript(index: Int) -> PostgresRow {
        precondition(index >= 0 && index < count, "row \(index) out of range 0..<\(count)")
        return PostgresRow(result: self, index: index)
    }

    /// Decodes every row with `transform`.
    public func map<T>(_ transform: (PostgresRow) throws -> T) rethrows -> [T] {
        var values: [T] = []
        values.reserveCapacity(count)
        for index in 0..<count { values.append(try transform(PostgresRow(result: self, index: index))) }
        return values
    }

    func decode<T: PostgresDecodable>(_: T.Type, row: Int, column: Int) throws -> T {
        guard column >= 0 && column < columnCount else {
            throw PostgresError(kind: .decoding, message: "column \(column) out of range: the result has \(columnCount) columns")
        }
        let rowIndex = Int32(row)
        let columnIndex = Int32(column)
        if PQgetisnull(handle, rowIndex, columnIndex) == 1 {
            do {
                return try T.decodeNull()
            } catch var error as PostgresError {
                error.message = "column \(column) (\(columnName(column))): \(error.message)"
                throw error
            }
        }
        let type = PostgresType(rawValue: PQftype(handle, columnIndex))
        let length = Int(PQgetlength(handle, rowIndex, columnIndex))
        guard let value = PQgetvalue(handle, rowIndex, columnIndex) else {
            throw PostgresError(kind: .decoding, message: "column \(column) has no value")
        }
        let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(value), count: length)
        do {
            return try T.decode(from: bytes, type: type)
        } catch var error as PostgresError {
            error.message = "column \(column) (\(columnName(column))): \(error.message)"
            throw error
        }
    }

    private func columnName(_ column: Int) -> String {
        String(cString: PQfname(handle, Int32(column)))
    }

    func isNull(row: Int, column: Int) -> Bool {
        PQgetisnull(handle, Int32(row), Int32(column)) == 1
    }
}

/// One row of a ``PostgresResult``.
public struct PostgresRow {
    let result: PostgresResult
    public let index: Int

    /// Decodes the column at `column` (0-based).
    public func decode<T: PostgresDecodable>(_ type: T.Type, column: Int) throws -> T {
        try result.decode(type, row: index, column: column)
    }

    /// Decodes the column called `name`.
    public func decode<T: PostgresDecodable>(_ type: T.Type, named name: String) throws -> T {
        guard let column = result.columnIndex(named: name) else {
            throw PostgresError(kind: .decoding, message: "the result has no column named \(name)")
        }
        return try result.decode(type, row: index, column: column)
    }

    /// Decodes the leading columns in order into a tuple: `let (id, title) = try row.decode((Int64, String).self)`.
    public func decode<each T: PostgresDecodable>(_ types: (repeat each T).Type) throws -> (repeat each T) {
        var column = 0
        func next<U: PostgresDecodable>(_: U.Type) throws -> U {
            defer { column += 1 }
            return try result.decode(U.self, row: index, column: column)
        }
        return (repeat try next((each T).self))
    }

    /// True when the column holds SQL NULL.
    public func isNull(column: Int) -> Bool {
        result.isNull(row: index, column: column)
    }
}

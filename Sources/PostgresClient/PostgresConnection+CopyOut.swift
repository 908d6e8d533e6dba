private import CLibPQ

/// What decodes one row's columns: a row of a ``PostgresResult`` or of a binary COPY out. Code that reads
/// either can be written once over this (and is specialised for each).
public protocol PostgresRowDecoding {
    /// Decodes the column at `column` (0-based).
    func decode<T: PostgresDecodable>(_ type: T.Type, column: Int) throws -> T
    /// True when the column holds SQL NULL.
    func isNull(column: Int) -> Bool
}

extension PostgresRow: PostgresRowDecoding {}

extension PostgresConnection {
    /// Streams the rows of `select` with `COPY (select) TO STDOUT (FORMAT binary)`: the fastest way to
    /// read a whole large table. Each row goes to `body` as it arrives — nothing holds the whole result —
    /// and is valid only during that call. Returns the number of rows read.
    ///
    /// `select` must be a constant statement (COPY takes no parameters): its columns' types are found by
    /// describing it first, so that every column decodes exactly as it would from ``query(_:)``.
    ///
    /// If `body` throws, the server is asked to cancel the COPY, what it already sent is discarded, and the
    /// error is rethrown with the connection ready for the next statement (inside a transaction, the
    /// transaction has failed and must be rolled back).
    @discardableResult
    public func copyOut(_ select: String, _ body: (PostgresCopyRow) throws -> Void) throws -> Int {
        let types = try describe(select)
        let sql = "COPY (\(select)) TO STDOUT WITH (FORMAT binary)"
        guard let start = PQexec(handle, sql) else { throw connectionError(context: "COPY out") }
        guard PQresultStatus(start) == PGRES_COPY_OUT else {
            let error = makeError(start, context: sql)
            PQclear(start)
            drainResults()
            throw error
        }
        PQclear(start)

        var reader = CopyOutReader(types: types)
        defer { reader.deallocate() }
        var rows = 0
        do {
            while true {
                var chunk: UnsafeMutablePointer<CChar>?
                let length = PQgetCopyData(handle, &chunk, 0)
                if length == -1 { break }  // the COPY is complete; its status follows
                guard length > 0, let chunk else { throw connectionError(context: "COPY out") }
                defer { PQfreemem(chunk) }
                rows += try reader.consume(UnsafeRawBufferPointer(start: chunk, count: Int(length)), body)
            }
            try reader.finish()
        } catch {
            abandonCopyOut()
            throw error
        }
        let final = PQgetResult(handle)
        drainResults()
        _ = try check(final, context: sql)
        return rows
    }

    /// The column types `select` returns, from describing it as an unnamed prepared statement.
    func describe(_ select: String) throws -> [PostgresType] {
        _ = try check(PQprepare(handle, "", select, 0, nil), context: "describe")
        let description = try check(PQdescribePrepared(handle, ""), context: "describe")
        return description.columnTypes
    }

    /// After a failed COPY out: asks the server to stop sending, reads what is still on its way until the
    /// COPY ends (with the cancellation's error), so that the connection is ready for the next statement.
    private func abandonCopyOut() {
        if let cancel = PQgetCancel(handle) {
            var message = [CChar](repeating: 0, count: 256)
            _ = PQcancel(cancel, &message, Int32(message.count))
            PQfreeCancel(cancel)
        }
        while true {
            var chunk: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &chunk, 0)
            if let chunk { PQfreemem(chunk) }
            if length < 0 { break }
        }
        drainResults()
    }
}

/// One row of a binary COPY out. It points into the connection's buffer: valid only inside the closure
/// that receives it (decode what you keep).
public struct PostgresCopyRow: PostgresRowDecoding {
    @usableFromInline let base: UnsafeRawPointer
    /// Each column's offset from `base` and length (-1 for NULL).
    @usableFromInline let fields: UnsafeBufferPointer<(offset: Int, length: Int)>
    @usableFromInline let types: UnsafeBufferPointer<PostgresType>

    init(base: UnsafeRawPointer, fields: UnsafeBufferPointer<(offset: Int, length: Int)>, types: UnsafeBufferPointer<PostgresType>) {
        self.base = base
        self.fields = fields
        self.types = types
    }

    /// The number of columns.
    public var columnCount: Int { fields.count }

    @inlinable
    public func decode<T: PostgresDecodable>(_: T.Type, column: Int) throws -> T {
        guard column >= 0 && column < fields.count else {
            throw PostgresError(kind: .decoding, message: "column \(column) out of range: the COPY has \(fields.count) columns")
        }
        let field = fields[column]
        do {
            if field.length < 0 { return try T.decodeNull() }
            return try T.decode(from: UnsafeRawBufferPointer(start: base + field.offset, count: field.length), type: types[column])
        } catch var error as PostgresError {
            error.message = "column \(column): \(error.message)"
            throw error
        }
    }

    @inlinable
    public func isNull(column: Int) -> Bool {
        fields[column].length < 0
    }

    /// The column's raw binary value, or nil for NULL (for callers that read a format themselves).
    @inlinable
    public func bytes(column: Int) -> UnsafeRawBufferPointer? {
        let field = fields[column]
        return field.length < 0 ? nil : UnsafeRawBufferPointer(start: base + field.offset, count: field.length)
    }
}

/// Splits the binary COPY stream into rows. The server sends a row per message (the header arrives with
/// the first, the trailer alone), but nothing here depends on it: a row cut across messages is carried over.
struct CopyOutReader {
    private let types: UnsafeMutableBufferPointer<PostgresType>
    private let fields: UnsafeMutableBufferPointer<(offset: Int, length: Int)>
    private var carry: [UInt8] = []
    private var sawHeader = false
    private var sawTrailer = false
    static let signature: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]

    init(types: [PostgresType]) {
        self.types = .allocate(capacity: types.count)
        _ = self.types.initialize(from: types)
        fields = .allocate(capacity: types.count)
        fields.initialize(repeating: (0, -1))
    }

    func deallocate() {
        types.deallocate()
        fields.deallocate()
    }

    /// Reads every complete row of `chunk` (after what was carried over) into `body`; returns how many.
    mutating func consume(_ chunk: UnsafeRawBufferPointer, _ body: (PostgresCopyRow) throws -> Void) throws -> Int {
        if carry.isEmpty {
            let (rows, used) = try rows(in: chunk, body)
            carry.append(contentsOf: chunk[used...])
            return rows
        }
        carry.append(contentsOf: chunk)
        let (rows, used) = try carry.withUnsafeBytes { try self.rows(in: $0, body) }
        carry.removeFirst(used)
        return rows
    }

    /// The stream ended: it must have ended with the trailer and nothing after it.
    func finish() throws {
        guard sawTrailer, carry.isEmpty else {
            throw PostgresError(kind: .protocolViolation, message: "the COPY ended without its trailer")
        }
    }

    /// Reads complete rows from the start of `bytes`; returns how many and how many bytes they took.
    private mutating func rows(
        in bytes: UnsafeRawBufferPointer, _ body: (PostgresCopyRow) throws -> Void
    ) throws -> (rows: Int, used: Int) {
        var offset = 0
        var rows = 0
        if !sawHeader {
            // Signature, flags (int32), header extension length (int32) and the extension.
            guard bytes.count >= Self.signature.count + 8 else { return (0, 0) }
            guard bytes.prefix(Self.signature.count).elementsEqual(Self.signature) else {
                throw PostgresError(kind: .protocolViolation, message: "the COPY data does not start with the binary signature")
            }
            var at = Self.signature.count + 4
            let extensionLength = Int(try WireFormat.read(Int32.self, from: bytes, at: &at))
            guard extensionLength >= 0 else { throw PostgresError(kind: .protocolViolation, message: "bad COPY header") }
            guard bytes.count >= at + extensionLength else { return (0, 0) }
            offset = at + extensionLength
            sawHeader = true
        }
        let count = bytes.count
        while offset + 2 <= count {
            if sawTrailer {
                throw PostgresError(kind: .protocolViolation, message: "COPY data after the trailer")
            }
            var at = offset
            let fieldCount = Int(try WireFormat.read(Int16.self, from: bytes, at: &at))
            if fieldCount == -1 {
                sawTrailer = true
                offset = at
                continue
            }
            guard fieldCount == fields.count else {
                throw PostgresError(kind: .protocolViolation, message: "COPY row has \(fieldCount) columns, the statement \(fields.count)")
            }
            var complete = true
            for column in 0..<fieldCount {
                guard at + 4 <= count else { complete = false; break }
                let length = Int(try WireFormat.read(Int32.self, from: bytes, at: &at))
                if length < 0 {
                    fields[column] = (at, -1)
                    continue
                }
                guard at + length <= count else { complete = false; break }
                fields[column] = (at, length)
                at += length
            }
            guard complete else { break }
            guard let base = bytes.baseAddress else { break }
            try body(PostgresCopyRow(base: base, fields: UnsafeBufferPointer(fields), types: UnsafeBufferPointer(types)))
            rows += 1
            offset = at
        }
        return (rows, offset)
    }
}

private import CLibPQ

extension PostgresConnection {
    /// Bulk-loads rows with `COPY table (columns) FROM STDIN (FORMAT binary)`: the fastest way to
    /// insert many rows. `body` appends rows to the writer, which streams them to the server in
    /// chunks. Returns the number of rows copied.
    ///
    /// If `body` throws, the COPY is aborted on the server (no row of it remains) and the error is
    /// rethrown. Inside a transaction the rows commit with it.
    @discardableResult
    public func copyFrom(
        table: String, columns: [String], _ body: (inout PostgresCopyWriter) throws -> Void
    ) throws -> Int {
        precondition(!columns.isEmpty, "COPY needs at least one column")
        let quotedTable = table.split(separator: ".").map { PostgresIdentifier.quote(String($0)) }.joined(separator: ".")
        let quotedColumns = columns.map(PostgresIdentifier.quote).joined(separator: ", ")
        let sql = "COPY \(quotedTable) (\(quotedColumns)) FROM STDIN WITH (FORMAT binary)"
        guard let start = PQexec(handle, sql) else { throw connectionError(context: "COPY") }
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            let error = makeError(start, context: sql)
            PQclear(start)
            throw error
        }
        PQclear(start)

        var writer = PostgresCopyWriter(connection: self, columnCount: columns.count)
        do {
            try body(&writer)
            try writer.finish()
        } catch {
            _ = PQputCopyEnd(handle, "aborted by the client: \(error)")
            drainResults()
            throw error
        }
        guard PQputCopyEnd(handle, nil) == 1 else { throw connectionError(context: "COPY end") }
        let final = PQgetResult(handle)
        drainResults()  // libpq must see the end of the results before the connection is idle again
        return try check(final, context: sql).affectedRows
    }

    /// Sends one chunk of COPY data.
    func putCopyData(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
        }
        guard sent == 1 else { throw connectionError(context: "COPY data") }
    }

    /// Reads and discards results until libpq reports none are left.
    func drainResults() {
        while let result = PQgetResult(handle) { PQclear(result) }
    }
}

/// Appends rows to a binary COPY. Created by ``PostgresConnection/copyFrom(table:columns:_:)``.
public struct PostgresCopyWriter: ~Copyable {
    /// Bytes buffered before a chunk is sent to the server.
    static let chunkBytes = 256 * 1024

    private let connection: PostgresConnection
    private let columnCount: Int
    private var buffer: [UInt8]
    /// Rows appended so far.
    public private(set) var rowCount = 0

    init(connection: PostgresConnection, columnCount: Int) {
        self.connection = connection
        self.columnCount = columnCount
        buffer = []
        buffer.reserveCapacity(Self.chunkBytes + 4096)
        // Signature "PGCOPY\n\377\r\n\0", flags, header-extension length.
        buffer.append(contentsOf: [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00])
        WireFormat.append(Int32(0), to: &buffer)
        WireFormat.append(Int32(0), to: &buffer)
    }

    /// Appends one row; the values must match the COPY's columns in number, order and type.
    public mutating func append<each Value: PostgresEncodable>(_ value: repeat each Value) throws {
        var fields = 0
        for _ in repeat each value { fields += 1 }
        precondition(fields == columnCount, "COPY row has \(fields) values for \(columnCount) columns")
        WireFormat.append(Int16(fields), to: &buffer)
        for item in repeat each value { appendField(item) }
        try rowAppended()
    }

    /// Appends one row from prepared bindings.
    public mutating func append(_ bindings: PostgresBindings) throws {
        precondition(bindings.count == columnCount, "COPY row has \(bindings.count) values for \(columnCount) columns")
        WireFormat.append(Int16(bindings.count), to: &buffer)
        for bind in bindings.binds {
            if let bytes = bind.bytes {
                WireFormat.append(Int32(bytes.count), to: &buffer)
                buffer.append(contentsOf: bytes)
            } else {
                WireFormat.append(Int32(-1), to: &buffer)
            }
        }
        try rowAppended()
    }

    private mutating func appendField(_ value: some PostgresEncodable) {
        if value.isPostgresNull {
            WireFormat.append(Int32(-1), to: &buffer)
            return
        }
        let lengthOffset = buffer.count
        WireFormat.append(Int32(0), to: &buffer)
        value.encode(into: &buffer)
        let length = Int32(buffer.count - lengthOffset - 4).bigEndian
        withUnsafeBytes(of: length) { bytes in
            for index in 0..<4 { buffer[lengthOffset + index] = bytes[index] }
        }
    }

    private mutating func rowAppended() throws {
        rowCount += 1
        if buffer.count >= Self.chunkBytes {
            try connection.putCopyData(buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }

    mutating func finish() throws {
        WireFormat.append(Int16(-1), to: &buffer)  // file trailer
        try connection.putCopyData(buffer)
        buffer.removeAll()
    }
}

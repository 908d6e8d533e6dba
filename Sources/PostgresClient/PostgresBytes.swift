/// Big-endian reading and writing of PostgreSQL's binary wire format.
enum WireFormat {
    static func append<I: FixedWidthInteger>(_ value: I, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    static func read<I: FixedWidthInteger>(_: I.Type, from bytes: UnsafeRawBufferPointer, at offset: inout Int) throws -> I {
        let size = MemoryLayout<I>.size
        guard offset + size <= bytes.count else {
            throw PostgresError(kind: .decoding, message: "binary value too short: needed \(size) bytes at offset \(offset) of \(bytes.count)")
        }
        var value: I = 0
        for index in offset..<(offset + size) {
            value = (value << 8) | I(truncatingIfNeeded: bytes[index])
        }
        offset += size
        return value
    }
}

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
        let value = I(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: I.self))
        offset += size
        return value
    }
}

/// An RFC 4180 reader: fields separated by commas, records by CRLF or LF, fields in double quotes may hold
/// commas, line breaks and doubled quotes. Each record says the file line it starts on, which is how an
/// import names a line (a quoted field with a line break makes a record span lines).
struct CSVReader {
    struct Record {
        /// 1-based line of the file where the record starts.
        var line: Int
        var fields: [String]
    }

    struct Failure: Error, CustomStringConvertible {
        var line: Int
        var reason: String
        var description: String { "line \(line): \(reason)" }
    }

    /// Every record of `bytes`, the header first. A UTF-8 byte order mark is skipped; blank lines are skipped.
    static func records(_ bytes: [UInt8]) throws(Failure) -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var recordLine = 1
        var index = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var quoted = false
        var fieldStarted = false

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            fieldStarted = false
        }
        func endRecord() {
            endField()
            if !(fields.count == 1 && fields[0].isEmpty) { records.append(Record(line: recordLine, fields: fields)) }
            fields.removeAll(keepingCapacity: true)
        }

        while index < bytes.count {
            let byte = bytes[index]
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\"") {
                        field.append(byte)
                        index += 2
                        continue
                    }
                    quoted = false
                    let next = index + 1 < bytes.count ? bytes[index + 1] : UInt8(ascii: "\n")
                    guard [UInt8(ascii: ","), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains(next) else {
                        throw Failure(line: line, reason: "a quoted field must end at a comma or the end of the line")
                    }
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                guard !fieldStarted else { throw Failure(line: line, reason: "a quote inside an unquoted field (quote the whole field and double the quote)") }
                quoted = true
                fieldStarted = true
            case UInt8(ascii: ","):
                endField()
            case UInt8(ascii: "\r"):
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") { index += 1 }
                endRecord()
                line += 1
                recordLine = line
            case UInt8(ascii: "\n"):
                endRecord()
                line += 1
                recordLine = line
            default:
                field.append(byte)
                fieldStarted = true
            }
            index += 1
        }
        if quoted { throw Failure(line: recordLine, reason: "a quoted field is not closed before the end of the file") }
        if fieldStarted || !field.isEmpty || !fields.isEmpty { endRecord() }
        return records
    }
}

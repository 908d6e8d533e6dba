import Synchronization

/// A view that a list can answer with as CSV, one row per item (`Respond.page`).
///
/// Its columns are its JSON members flattened as `CSVFlattener` says (`holder.id`, arrays joined with
/// `;`), in the order the view encodes them, and they are derived from ``csvExample``: so the header is
/// the same on every page, an empty one included, whichever values happen to be `nil`.
protocol CSVRow: Encodable, Sendable {
    /// Any value of the type in which every optional object is present and every array holds an
    /// element (`nil` scalars are fine): the columns under a missing object would be unknown. A value
    /// that breaks this stops the process the first time the type is served (a programmer error).
    static var csvExample: Self { get }
}

/// CSV documents: RFC 4180, a header row, CRLF line ends, UTF-8.
enum CSV {
    /// The columns of `Row`, derived once per type from its example.
    static func columns<Row: CSVRow>(of _: Row.Type) -> [String] {
        let key = ObjectIdentifier(Row.self)
        if let known = columnsByType.withLock({ $0[key] }) { return known }
        let cells = CSVCells(mode: .header)
        do {
            try Row.csvExample.encode(to: CSVFlattener(cells: cells, column: "", array: nil))
        } catch {
            preconditionFailure("\(Row.self).csvExample cannot be written as CSV: \(error)")
        }
        cells.checkArraysFilled()
        if let failure = cells.failure { preconditionFailure("\(Row.self) cannot be written as CSV: \(failure)") }
        precondition(!cells.columns.isEmpty, "\(Row.self) has no columns")
        columnsByType.withLock { $0[key] = cells.columns }
        return cells.columns
    }

    private static let columnsByType = Mutex<[ObjectIdentifier: [String]]>([:])

    /// The header row and one row per value.
    static func document<Row: CSVRow>(_ rows: [Row]) throws -> String {
        let columns = columns(of: Row.self)
        let known = Set(columns)
        var text = ""
        text.reserveCapacity(64 * columns.count * (rows.count + 1))
        append(columns, to: &text)
        for row in rows {
            let cells = CSVCells(mode: .row)
            try row.encode(to: CSVFlattener(cells: cells, column: "", array: nil))
            if let failure = cells.failure { preconditionFailure("\(Row.self) cannot be written as CSV: \(failure)") }
            for column in cells.columns where !known.contains(column) && !cells.cell(column).isEmpty {
                preconditionFailure("\(Row.self) wrote the column \(column), which its csvExample does not have")
            }
            append(columns.map(cells.cell), to: &text)
        }
        return text
    }

    /// One record: fields separated by commas, ended by CRLF.
    static func append(_ fields: [String], to text: inout String) {
        for (index, field) in fields.enumerated() {
            if index > 0 { text += "," }
            appendField(field, to: &text)
        }
        text += "\r\n"
    }

    /// RFC 4180: a field holding a comma, a double quote, CR or LF is enclosed in double quotes, and
    /// each double quote in it doubled. Anything else is written as it is.
    static func appendField(_ value: String, to text: inout String) {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }) else {
            text += value
            return
        }
        text += "\""
        for scalar in value.unicodeScalars {
            if scalar == "\"" { text += "\"" }
            text.unicodeScalars.append(scalar)
        }
        text += "\""
    }

    /// `value` as one field.
    static func field(_ value: String) -> String {
        var text = ""
        appendField(value, to: &text)
        return text
    }
}

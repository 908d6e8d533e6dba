import Foundation

/// CSV read by a parser that is not ours: Python's standard `csv` module (RFC 4180 dialect `excel`),
/// run as `python3` with the text on its standard input, its records back as JSON. What a regulator's
/// spreadsheet or script would read from the API's CSV.
public enum StandardCSV {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The records of `text`, each a list of fields. The input is read with `newline=''`, as the `csv`
    /// module asks, so that a CR LF inside a quoted field stays in the field.
    public static func parse(_ text: String) throws -> [[String]] {
        let script = """
            import csv, io, json, sys
            records = list(csv.reader(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline=""), strict=True))
            sys.stdout.write(json.dumps(records))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Python reads every record before it writes anything, so writing all first cannot block both.
        try input.fileHandleForWriting.write(contentsOf: Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "python3's csv module refused the text: \(String(decoding: message, as: UTF8.self))")
        }
        guard let records = try JSONSerialization.jsonObject(with: data) as? [[String]] else {
            throw Failure(description: "python3 did not answer a list of records: \(String(decoding: data, as: UTF8.self))")
        }
        return records
    }
}

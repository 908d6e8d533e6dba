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
    public static func parse(_ text: String) async throws -> [[String]] {
        let script = """
            import csv, io, json, sys
            records = list(csv.reader(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline=""), strict=True))
            sys.stdout.write(json.dumps(records))
            """
        // Python reads every record before it writes anything.
        let result = try await PythonProcess.run(["-c", script], input: Data(text.utf8))
        guard result.status == 0 else {
            throw Failure(description: "python3's csv module refused the text: \(result.errorText)")
        }
        guard let records = try JSONSerialization.jsonObject(with: result.output) as? [[String]] else {
            throw Failure(description: "python3 did not answer a list of records: \(result.outputText)")
        }
        return records
    }
}

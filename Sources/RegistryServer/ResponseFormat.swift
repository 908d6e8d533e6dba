import HTTPTypes
import Hummingbird

/// The form a list is answered in: JSON unless the request asks for CSV, by `format=csv` in the query
/// or by an `Accept` header that ranks `text/csv` above JSON. `format` wins over `Accept`; any value of
/// `format` but `json` and `csv` is a 400 naming it. An `Accept` that allows neither gets JSON (no 406).
enum ResponseFormat: String, CaseIterable, Sendable {
    case json, csv

    init(_ request: Request) throws {
        if let chosen = try QueryParameters(request).choice("format", ResponseFormat.self) {
            self = chosen
        } else {
            self = Self.preferred(accept: request.headers[values: .accept])
        }
    }

    /// Most media ranges of an `Accept` header that are read; the rest are ignored.
    static let maxMediaRanges = 32

    /// CSV when `text/csv` gets a higher quality than `application/json` (RFC 9110 §12.5.1: each type
    /// takes the quality of the most specific range that matches it), or the same quality from a range
    /// listed earlier; JSON otherwise.
    static func preferred(accept values: [String]) -> ResponseFormat {
        var csv: (quality: Double, specificity: Int, position: Int) = (0, 0, .max)
        var json: (quality: Double, specificity: Int, position: Int) = (0, 0, .max)
        var position = 0
        for value in values {
            for range in value.split(separator: ",", omittingEmptySubsequences: true) {
                position += 1
                guard position <= maxMediaRanges else { break }
                var parts = range.split(separator: ";").makeIterator()
                guard let type = parts.next()?.trimmingSpaces.lowercased() else { continue }
                var quality = 1.0
                var valid = true
                while let parameter = parts.next() {
                    let pair = parameter.split(separator: "=", maxSplits: 1)
                    guard pair.count == 2, pair[0].trimmingSpaces.lowercased() == "q" else { continue }
                    guard let value = Double(pair[1].trimmingSpaces), (0...1).contains(value) else {
                        valid = false
                        break
                    }
                    quality = value
                }
                guard valid else { continue }
                let specificity: (String) -> Int = { target in
                    if type == target { return 3 }
                    if type == "*/*" { return 1 }
                    if type.hasSuffix("/*"), target.hasPrefix(type.dropLast()) { return 2 }
                    return 0
                }
                let forCSV = specificity("text/csv")
                if forCSV > csv.specificity { csv = (quality, forCSV, position) }
                let forJSON = specificity("application/json")
                if forJSON > json.specificity { json = (quality, forJSON, position) }
            }
        }
        guard csv.quality > 0 else { return .json }
        if csv.quality > json.quality { return .csv }
        return csv.quality == json.quality && csv.position < json.position ? .csv : .json
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}

import Crypto
import Foundation
import RegistryCore

/// What a line of an import file creates, and the API call that creates it.
public enum ImportRecordKind: String, Sendable, CaseIterable {
    /// `POST /v1/datasets`
    case dataset
    /// `POST /v1/datasets/{target}/lineage` with one source
    case derivation
    /// `POST /v1/registrations`
    case registration
}

/// An import file's format: CSV with a header row (RFC 4180), or JSON Lines (one object a line).
public enum ImportFormat: String, Sendable, CaseIterable {
    case csv, jsonl

    /// The format a file name's extension says (`.csv`; `.jsonl`, `.ndjson`), if it says one.
    public init?(fileName: String) {
        let lower = fileName.lowercased()
        if lower.hasSuffix(".csv") {
            self = .csv
        } else if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") {
            self = .jsonl
        } else {
            return nil
        }
    }
}

/// One line of an import file, ready to be sent once the datasets it refers to are known.
public struct ImportLine: Sendable {
    /// The file's line (1-based; a CSV record that spans lines is named by its first).
    public var number: Int
    public var record: ImportRecordKind
    /// The file-local name a dataset line gives the dataset it creates.
    public var ref: String?
    /// For a derivation: the dataset derived (an id, or a reference).
    var target: ImportValue?
    /// The request body, with references where the API takes dataset ids.
    var body: ImportValue
    /// Every reference of the line (target and body), each once.
    public var references: [String]
}

/// A line the file's own rules refuse (before any request): the field and why.
public struct ImportLineProblem: Error, Sendable, Equatable {
    public var line: Int
    public var record: String
    public var field: String
    public var reason: String
}

/// A file that cannot be imported at all (a header column no record has, CSV that does not parse, too big).
public struct ImportFileError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}

/// An import file read and checked: its lines, the lines its own rules refuse, and its SHA-256 (from
/// which each line's idempotency key is made).
public struct ImportFile: Sendable {
    public var lines: [ImportLine]
    /// Lines refused by the file's rules, by line number; never sent.
    public var problems: [Int: ImportLineProblem]
    public var sha256: [UInt8]

    /// The fields of each kind of line: the API's body fields, and the file-local references.
    enum FieldType: Equatable {
        case string, integer, boolean, object
        /// `;`-separated strings in CSV, an array of strings in JSON.
        case stringList
        /// `kind:sha256;…` in CSV, an array of `{kind, sha256}` in JSON.
        case evidenceList
        /// `kind:REF;kind:#ID;…` in CSV, an array of `{dataset | datasetRef, kind}` in JSON.
        case sourceList
        /// A file-local dataset name.
        case reference
    }

    static let fields: [ImportRecordKind: [String: FieldType]] = [
        .dataset: [
            "ref": .reference, "title": .string, "description": .string, "grade": .string, "piLevel": .string,
            "individualsCovered": .integer, "region": .string, "sharing": .object, "sharing.category": .string, "sharing.text": .string,
            "fingerprint": .string, "format": .string, "updateCycle": .string, "sizeBytes": .integer, "tags": .stringList,
        ],
        .derivation: ["target": .integer, "targetRef": .reference, "source": .integer, "sourceRef": .reference, "kind": .string],
        .registration: [
            "dataset": .integer, "datasetRef": .reference, "right": .string, "kind": .string, "sourceType": .string,
            "evidence": .evidenceList, "truthfulnessCommitment": .boolean, "applicantRole": .string, "certificate": .string,
            "transferee": .integer, "authorisationEndsOn": .string, "newFingerprint": .string, "statement": .string,
            "derivedFrom": .sourceList,
        ],
    ]

    /// Every CSV column a file may have: `record` and the fields of every kind.
    static var columns: Set<String> {
        Set(fields.values.flatMap(\.keys)).union(["record"]).subtracting(["sharing"])
    }

    /// Reads `bytes` in `format`. Lines the file's own rules refuse are in ``problems``; a file that cannot
    /// be read at all throws.
    public static func parse(_ bytes: [UInt8], format: ImportFormat) throws(ImportFileError) -> ImportFile {
        guard bytes.count <= Limits.maxImportFileBytes else {
            throw ImportFileError(description: "the file is larger than \(Limits.maxImportFileBytes) bytes; split it")
        }
        var file = ImportFile(lines: [], problems: [:], sha256: Array(SHA256.hash(data: bytes)))
        let rows: [(line: Int, fields: Result<[String: ImportValue], ImportLineProblem>)]
        switch format {
        case .csv: rows = try csvRows(bytes)
        case .jsonl: rows = jsonRows(bytes)
        }
        guard rows.count <= Limits.maxImportLines else {
            throw ImportFileError(description: "the file has more than \(Limits.maxImportLines) lines; split it")
        }
        var defined: [String: Int] = [:]
        // Refs of dataset lines the file's rules refused: lines naming them are refused as such.
        var refused: [String: Int] = [:]
        for (number, fields) in rows {
            do throws(ImportLineProblem) {
                let line = try makeLine(number: number, fields: fields.get())
                for reference in line.references where defined[reference] == nil {
                    throw ImportLineProblem(
                        line: number, record: line.record.rawValue, field: referenceField(reference, in: line),
                        reason: refused[reference].map { "the dataset line \($0) (ref \(reference)) was refused" }
                            ?? "no dataset line before this one has ref \(reference)")
                }
                if let ref = line.ref {
                    if let earlier = defined[ref] {
                        throw ImportLineProblem(line: number, record: line.record.rawValue, field: "ref", reason: "ref \(ref) is already given on line \(earlier)")
                    }
                    defined[ref] = number
                }
                file.lines.append(line)
            } catch {
                file.problems[number] = error
                if case .success(let values) = fields, values["record"] == .string("dataset"), case .string(let ref)? = values["ref"],
                    defined[ref] == nil
                {
                    refused[ref] = number
                }
            }
        }
        return file
    }

    static func referenceField(_ reference: String, in line: ImportLine) -> String {
        if case .datasetReference(reference) = line.target { return "targetRef" }
        switch line.record {
        case .derivation: return "sourceRef"
        case .registration:
            if case .object(let members) = line.body, case .datasetReference(reference) = members["dataset"] { return "datasetRef" }
            return "derivedFrom"
        case .dataset: return "ref"
        }
    }

    // MARK: Rows

    static func csvRows(_ bytes: [UInt8]) throws(ImportFileError) -> [(line: Int, fields: Result<[String: ImportValue], ImportLineProblem>)] {
        let records: [CSVReader.Record]
        do {
            records = try CSVReader.records(bytes)
        } catch {
            throw ImportFileError(description: "the CSV does not parse: \(error)")
        }
        guard let header = records.first else { throw ImportFileError(description: "the file is empty: a CSV import needs a header row") }
        let unknown = header.fields.filter { !columns.contains($0) }
        guard unknown.isEmpty else {
            throw ImportFileError(
                description: "the header names columns no line has: \(unknown.joined(separator: ", ")) (columns: \(columns.sorted().joined(separator: ", ")))")
        }
        guard Set(header.fields).count == header.fields.count else { throw ImportFileError(description: "the header names a column twice") }
        guard header.fields.contains("record") else { throw ImportFileError(description: "the header has no record column (dataset, derivation or registration)") }
        return records.dropFirst().map { row in
            guard row.fields.count == header.fields.count else {
                return (row.line, .failure(ImportLineProblem(
                    line: row.line, record: "", field: "",
                    reason: "has \(row.fields.count) fields where the header has \(header.fields.count)")))
            }
            return (row.line, Result { () throws(ImportLineProblem) in try csvFields(header: header.fields, row: row) })
        }
    }

    /// A CSV row's non-empty cells as typed values, by the types of its record's fields.
    static func csvFields(header: [String], row: CSVReader.Record) throws(ImportLineProblem) -> [String: ImportValue] {
        let cells = Dictionary(uniqueKeysWithValues: zip(header, row.fields))
        let recordName = cells["record"] ?? ""
        guard let record = ImportRecordKind(rawValue: recordName) else {
            throw ImportLineProblem(line: row.line, record: recordName, field: "record", reason: "must be dataset, derivation or registration")
        }
        let types = fields[record]!
        var values: [String: ImportValue] = ["record": .string(recordName)]
        var sharing: [String: ImportValue] = [:]
        for (column, cell) in cells where column != "record" && !cell.isEmpty {
            func problem(_ reason: String) -> ImportLineProblem { ImportLineProblem(line: row.line, record: recordName, field: column, reason: reason) }
            guard let type = types[column] else { throw problem("is not a field of a \(record.rawValue) line: leave it empty") }
            switch type {
            case .string, .object:
                if column.hasPrefix("sharing.") {
                    sharing[String(column.dropFirst("sharing.".count))] = .string(cell)
                } else {
                    values[column] = .string(cell)
                }
            case .reference: values[column] = .string(cell)
            case .integer:
                guard let number = Int64(cell) else { throw problem("must be a whole number") }
                values[column] = .integer(number)
            case .boolean:
                switch cell.lowercased() {
                case "true": values[column] = .bool(true)
                case "false": values[column] = .bool(false)
                default: throw problem("must be true or false")
                }
            case .stringList:
                values[column] = .array(listItems(cell).map(ImportValue.string))
            case .evidenceList:
                values[column] = .array(try listItems(cell).map { item throws(ImportLineProblem) in
                    guard let colon = item.firstIndex(of: ":") else { throw problem("each item is kind:sha256, e.g. contract:5f3a…") }
                    return .object(["kind": .string(String(item[..<colon])), "sha256": .string(String(item[item.index(after: colon)...]))])
                })
            case .sourceList:
                values[column] = .array(try listItems(cell).map { item throws(ImportLineProblem) in
                    guard let colon = item.firstIndex(of: ":") else { throw problem("each item is kind:REF (a dataset line's ref) or kind:#ID (a registry id)") }
                    let kind = ImportValue.string(String(item[..<colon]))
                    let source = item[item.index(after: colon)...]
                    if source.hasPrefix("#") {
                        guard let id = Int64(source.dropFirst()) else { throw problem("#\(source.dropFirst()) is not a dataset id") }
                        return .object(["dataset": .integer(id), "kind": kind])
                    }
                    return .object(["datasetRef": .string(String(source)), "kind": kind])
                })
            }
        }
        if !sharing.isEmpty { values["sharing"] = .object(sharing) }
        return values
    }

    static func listItems(_ cell: String) -> [String] {
        cell.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func jsonRows(_ bytes: [UInt8]) -> [(line: Int, fields: Result<[String: ImportValue], ImportLineProblem>)] {
        var rows: [(line: Int, fields: Result<[String: ImportValue], ImportLineProblem>)] = []
        var number = 0
        let decoder = JSONDecoder()
        for text in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            let trimmed = text.last == UInt8(ascii: "\r") ? text.dropLast() : text
            guard trimmed.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) else { continue }
            guard case .object(let members)? = try? decoder.decode(ImportValue.self, from: Data(trimmed)) else {
                rows.append((number, .failure(ImportLineProblem(line: number, record: "", field: "", reason: "is not a JSON object"))))
                continue
            }
            rows.append((number, .success(members)))
        }
        return rows
    }

    // MARK: Lines

    /// A line from its fields: the request it makes, with references in place of ids.
    static func makeLine(number: Int, fields values: [String: ImportValue]) throws(ImportLineProblem) -> ImportLine {
        guard case .string(let recordName)? = values["record"], let record = ImportRecordKind(rawValue: recordName) else {
            throw ImportLineProblem(line: number, record: "", field: "record", reason: "must be dataset, derivation or registration")
        }
        func problem(_ field: String, _ reason: String) -> ImportLineProblem {
            ImportLineProblem(line: number, record: recordName, field: field, reason: reason)
        }
        let types = fields[record]!
        for key in values.keys where key != "record" && types[key] == nil {
            throw problem(key, "is not a field of a \(record.rawValue) line")
        }
        func reference(_ key: String) throws(ImportLineProblem) -> String? {
            guard let value = values[key] else { return nil }
            guard case .string(let name) = value, isReferenceName(name) else {
                throw problem(key, "must be 1 to \(Limits.maxImportReferenceLength) letters, digits, '.', '_' or '-'")
            }
            return name
        }
        /// The dataset named by `idKey` (a registry id) or `refKey` (a file-local ref): exactly one.
        func dataset(_ idKey: String, _ refKey: String) throws(ImportLineProblem) -> ImportValue {
            let ref = try reference(refKey)
            switch (values[idKey], ref) {
            case (nil, let name?): return .datasetReference(name)
            case (let id?, nil): return id
            case (nil, nil): throw problem(refKey, "the \(idKey) is required: give \(refKey) (a dataset line's ref) or \(idKey) (a registry id)")
            case (_?, _?): throw problem(refKey, "give \(refKey) or \(idKey), not both")
            }
        }

        var body = values
        body["record"] = nil
        var line = ImportLine(number: number, record: record, ref: nil, target: nil, body: .null, references: [])
        switch record {
        case .dataset:
            line.ref = try reference("ref")
            body["ref"] = nil
        case .derivation:
            line.target = try dataset("target", "targetRef")
            var source: [String: ImportValue] = ["dataset": try dataset("source", "sourceRef")]
            source["kind"] = values["kind"]
            body = ["sources": .array([.object(source)])]
        case .registration:
            body["dataset"] = try dataset("dataset", "datasetRef")
            body["datasetRef"] = nil
            if case .array(let items)? = values["derivedFrom"] {
                body["derivedFrom"] = .array(try items.enumerated().map { index, item throws(ImportLineProblem) -> ImportValue in
                    guard case .object(var members) = item else { return item }
                    if let name = members["datasetRef"] {
                        guard case .string(let name) = name, isReferenceName(name) else {
                            throw problem("derivedFrom[\(index)].datasetRef", "must be a dataset line's ref")
                        }
                        guard members["dataset"] == nil else { throw problem("derivedFrom[\(index)].datasetRef", "give datasetRef or dataset, not both") }
                        members["datasetRef"] = nil
                        members["dataset"] = .datasetReference(name)
                    }
                    return .object(members)
                })
            }
        }
        line.body = .object(body)
        var seen: Set<String> = []
        line.references = ((line.target?.references ?? []) + line.body.references).filter { seen.insert($0).inserted }
        return line
    }

    static func isReferenceName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= Limits.maxImportReferenceLength
            && name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }
}

extension ImportLine {
    /// The JSON body this line sends, each reference written as the dataset id `resolve` gives for it.
    public func requestBody(into bytes: inout [UInt8], resolve: (String) -> Int64?) {
        body.write(into: &bytes, resolve: resolve)
    }
}

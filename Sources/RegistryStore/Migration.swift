import Crypto
import Foundation

/// One forward-only schema migration: the file `Schema/NNNN_name.sql`.
public struct Migration: Sendable, Equatable {
    /// The number the file name starts with; migrations apply in this order.
    public let version: Int
    /// The file name, e.g. `0001_foundation.sql`.
    public let fileName: String
    public let sql: String
    /// SHA-256 of the file's exact bytes, lowercase hex; recorded when applied.
    public let checksum: String

    /// A migration from a file name of the form `NNNN_name.sql` and its contents.
    public init(fileName: String, sql: String) throws {
        let digits = fileName.prefix { $0.isASCII && $0.isNumber }
        guard digits.count == 4, let version = Int(digits), version > 0, fileName.dropFirst(4).first == "_",
            fileName.hasSuffix(".sql"), fileName.count > 9
        else {
            throw MigrationError.badFileName(fileName)
        }
        self.version = version
        self.fileName = fileName
        self.sql = sql
        self.checksum = SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The migrations built into this binary from `Schema/`, in order.
    public static let bundled: [Migration] = {
        do {
            return try EmbeddedSchema.files.map { file in
                guard let data = Data(base64Encoded: file.base64) else {
                    preconditionFailure("the embedded copy of \(file.name) is not valid Base64")
                }
                return try Migration(fileName: file.name, sql: String(decoding: data, as: UTF8.self))
            }.sorted { $0.version < $1.version }
        } catch {
            preconditionFailure("a file in Schema/ is misnamed: \(error)")
        }
    }()
}

/// Why migrating refused to go on. Each case says what to do about it.
public enum MigrationError: Error, Equatable, CustomStringConvertible {
    case badFileName(String)
    case duplicateVersion(Int, [String])
    case edited(fileName: String, appliedAt: String, recordedChecksum: String, currentChecksum: String)
    case unknownApplied(version: Int, fileName: String)
    case outOfOrder(fileName: String, latestApplied: String)
    case failed(fileName: String, reason: String)

    public var description: String {
        switch self {
        case .badFileName(let name):
            "migration file \(name) is misnamed: expected NNNN_name.sql, four digits from 0001"
        case .duplicateVersion(let version, let names):
            "migration version \(version) is used by more than one file: \(names.joined(separator: ", "))"
        case .edited(let fileName, let appliedAt, let recorded, let current):
            "Schema/\(fileName) was applied on \(appliedAt) with checksum \(recorded.prefix(12))…, but the file now has checksum \(current.prefix(12))…. Applied migrations must not be edited: restore the file and put the change in a new migration."
        case .unknownApplied(let version, let fileName):
            "the database has migration \(fileName) (version \(version)) applied, which this binary does not have: it was migrated by a newer DataRights. Run that version or newer."
        case .outOfOrder(let fileName, let latest):
            "Schema/\(fileName) is new but \(latest) is already applied; migrations are forward-only: renumber the new file after \(latest)."
        case .failed(let fileName, let reason):
            "Schema/\(fileName) failed and was rolled back: \(reason)"
        }
    }
}

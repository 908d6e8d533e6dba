import Hummingbird
import RegistryCore

// Audit, state digest, settings and the sandbox clock (`OversightController`): request bodies and views.

// MARK: Bodies

struct SettingsBody: Codable {
    struct CalendarBody: Codable {
        let holidays: [CivilDate]
        let workingWeekendDays: [CivilDate]?
        let utcOffsetSeconds: Int?
    }
    let objectionPolicy: ObjectionPolicy?
    let calendar: CalendarBody?
    /// R23: fen per million tokens.
    let publicDataFeeCeiling: Int64?
}

struct ClockBody: Decodable {
    let days: Int?
    let seconds: Int64?
}

// MARK: Views

struct AuditVerification: ResponseEncodable, Decodable {
    let valid: Bool
    let entries: Int64?
    let head: String?
    let firstMismatch: Int64?
    let reason: String?
}

struct AuditEntryView: Codable, Sendable {
    let sequence: Int64
    let at: String
    let actor: String
    let kind: String
    let payload: String
    let previousHash: String
    let hash: String
}

struct StateView: ResponseEncodable {
    let digest: String
    let counts: [String: Int]
    let now: String
    let today: String
}

struct ClockView: ResponseEncodable {
    let now: String
    let today: String
    let offsetSeconds: Int64
    let changes: [String]
}

extension AuditEntryView: CSVRow {
    static let csvExample = AuditEntryView(sequence: 1, at: "", actor: "", kind: "", payload: "", previousHash: "", hash: "")
}

// The API's JSON as the console reads it: only the members a page shows (the decoder skips the others).
// The wire format is docs/openapi.yaml's; these are a client's reading of it, as any client would have.

/// `GET /v1/me`.
struct MeJSON: Decodable, Sendable {
    let id: Int64
    let name: String
    let kind: String
}

/// A list page: `{"items": […], "nextCursor": "…"}`.
struct PageJSON<Item: Decodable & Sendable>: Decodable, Sendable {
    let items: [Item]
    let nextCursor: String?
}

struct SharingJSON: Decodable, Sendable {
    let category: String
    let text: String?
}

struct DatasetJSON: Decodable, Sendable {
    let id: Int64
    let holder: Int64
    let title: String
    let description: String
    let grade: String
    let piLevel: String
    let individualsCovered: Int64
    let region: String
    let sharing: SharingJSON?
    let fingerprint: String
    let format: String
    let updateCycle: String
    let sizeBytes: Int64
    let tags: [String]
    let flagged: Bool
    let flagReason: String?
    let createdAt: String
    let updatedAt: String
}

struct PartyJSON: Decodable, Sendable {
    let id: Int64
    let name: String
    let kind: String
    let region: String
}

struct CertificateJSON: Decodable, Sendable {
    struct Holder: Decodable, Sendable {
        let id: Int64
        let name: String
    }
    let number: String
    let status: String
    let right: String
    let holders: [Holder]
    let sourceType: String?
    let issuedOn: String
    let expiresOn: String
}

struct RefusalJSON: Decodable, Sendable {
    let rule: String
    let reason: String
}

struct ObjectionJSON: Decodable, Sendable {
    let id: Int64
    let objector: Int64
    let grounds: String
    let lodgedAt: String
    let ruling: String?
    let rulingReason: String?
}

struct RegistrationJSON: Decodable, Sendable {
    let number: String
    let dataset: Int64
    let applicant: Int64
    let right: String
    let kind: String
    let sourceType: String?
    let status: String
    let noticeEndsOn: String?
    let pendingObjections: Int
    let refusals: [RefusalJSON]
    let issuedCertificate: String?
    let submittedAt: String
    let objections: [ObjectionJSON]?
}

struct ConstraintsJSON: Decodable, Sendable {
    let purposes: [String]?
    let assigneeParties: [Int64]?
    let assigneeKinds: [String]?
    let regions: [String]?
    let notBefore: String?
    let notAfter: String?
    let maxTokens: Int64?
    let gradeCeiling: String?
    let retentionDays: Int?
}

struct PolicyRuleJSON: Decodable, Sendable {
    let id: String
    let kind: String
    let action: String
    let duty: String?
    let constraints: ConstraintsJSON?
}

struct PolicyJSON: Decodable, Sendable {
    let version: Int
    let rules: [PolicyRuleJSON]
    let approval: String
    let pricePerMillionTokens: Int64
    let dailyTokenCap: Int64?
    let updatedAt: String
}

struct RestrictionsJSON: Decodable, Sendable {
    struct Own: Decodable, Sendable {
        let grade: String
        let piLevel: String
        let flagged: Bool
    }
    struct Origin: Decodable, Sendable {
        let restriction: String
        let value: String
        let from: Int64
    }
    let grade: String
    let piLevel: String
    let flagged: Bool
    let own: Own
    let sources: Int
    let origins: [Origin]?
}

struct LineageNodeJSON: Decodable, Sendable {
    let id: Int64
    let title: String
    let holder: Int64
    let depth: Int32
    let flagged: Bool
}

struct LineageWalkJSON: Decodable, Sendable {
    struct Budget: Decodable, Sendable {
        let limit: Int
        let visited: Int
        let exhausted: Bool
    }
    let items: [LineageNodeJSON]
    let nextCursor: String?
    let budget: Budget
}

struct AccessRequestJSON: Decodable, Sendable {
    let number: String
    let dataset: Int64
    let requester: Int64
    let purpose: String
    let action: String
    let tokens: Int64
    let validFrom: String
    let validUntil: String
    let useRegion: String
    let state: String
    let replyDueOn: String?
    let reply: String?
    let refusals: [RefusalJSON]
}

struct GrantJSON: Decodable, Sendable {
    let number: String
    let dataset: Int64
    let assignee: Int64
    let grantor: Int64
    let purpose: String
    let tokenQuota: Int64
    let validFrom: String
    let validUntil: String
    let useRegion: String
    let pricePerMillionTokens: Int64
    let free: Bool
    let state: String
}

struct GrantUsageJSON: Decodable, Sendable {
    let grant: String
    let tokenQuota: Int64
    let tokensUsed: Int64
    let tokensRemaining: Int64
    let charged: Int64
}

struct UsageEventJSON: Decodable, Sendable {
    let tokens: Int64
    let recordedAt: String
    let status: String
}

struct SettingsJSON: Decodable, Sendable {
    struct Calendar: Decodable, Sendable {
        let utcOffsetSeconds: Int?
    }
    let calendar: Calendar?
}

struct AuditVerificationJSON: Decodable, Sendable {
    let valid: Bool
    let entries: Int64?
    let head: String?
    let firstMismatch: Int64?
    let reason: String?
}

struct AuditEntryJSON: Decodable, Sendable {
    let sequence: Int64
    let at: String
    let actor: String
    let kind: String
    let payload: String
    let hash: String
}

struct StatisticsUsageRowJSON: Decodable, Sendable {
    let value: String
    let label: String
    let day: String?
    let tokens: Int64?
    let events: Int64?
}

struct StatisticsRankingRowJSON: Decodable, Sendable {
    let rank: Int?
    let value: String
    let label: String
    let tokens: Int64?
    let sharePercent: Double?
    let changePercent: Double?
}

/// A compliance or statistics answer: rows, cursor, `asOf`. Totals are read generically.
struct ComplianceJSON<Row: Decodable & Sendable>: Decodable, Sendable {
    let asOf: Int64
    let items: [Row]
    let nextCursor: String?
}

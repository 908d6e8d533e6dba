import Foundation
import RegistryCore

/// The dataset page's model: each section read from its own API answer.
struct DatasetPageView: Sendable {
    let dataset: DatasetEntryView
    let certificates: [CertificateRow]
    let hasCertificates: Bool
    let registrations: [RegistrationRow]
    let hasRegistrations: Bool
    let policy: PolicySection?
    let noPolicy: Bool
    let restrictions: RestrictionsSection
    let lineage: LineageSection
}

/// The catalog entry, as terms and their values.
struct DatasetEntryView: Sendable {
    struct Term: Sendable {
        let term: String
        let definition: String
    }
    let id: Int64
    let title: String
    let entryDescription: String
    let terms: [Term]
    let isFlagged: Bool
    let flagReason: String?

    init(_ dataset: DatasetView) {
        id = dataset.id
        title = dataset.title
        entryDescription = dataset.description
        isFlagged = dataset.flagged
        flagReason = dataset.flagReason
        var terms = [
            Term(term: "Holder", definition: "party \(dataset.holder)"),
            Term(term: "Grade", definition: dataset.grade),
            Term(term: "Personal information", definition: "\(dataset.piLevel), \(dataset.individualsCovered.grouped) individuals"),
            Term(term: "Region", definition: dataset.region),
            Term(term: "Format", definition: dataset.format),
            Term(term: "Update cycle", definition: dataset.updateCycle),
            Term(term: "Size", definition: "\(dataset.sizeBytes.grouped) bytes"),
            Term(term: "Tags", definition: dataset.tags.isEmpty ? "none" : dataset.tags.joined(separator: ", ")),
            Term(term: "Fingerprint (SHA-256)", definition: dataset.fingerprint),
            Term(term: "Registered", definition: dataset.createdAt),
            Term(term: "Updated", definition: dataset.updatedAt),
        ]
        if let sharing = dataset.sharing {
            terms.insert(
                Term(term: "Sharing (R17)", definition: sharing.category.replacingOccurrences(of: "_", with: " ") + (sharing.text.map { ": \($0)" } ?? "")),
                at: 4)
        }
        self.terms = terms
    }
}

struct CertificateRow: Sendable {
    let number: String
    let status: String
    let right: String
    let holders: String
    let sourceType: String
    let issuedOn: String
    let expiresOn: String

    init(_ certificate: CertificateView) {
        number = certificate.number
        status = certificate.status
        right = certificate.right
        holders = certificate.holders.map { "\($0.name) (\($0.id))" }.joined(separator: ", ")
        sourceType = certificate.sourceType?.replacingOccurrences(of: "_", with: " ") ?? ""
        issuedOn = certificate.issuedOn
        expiresOn = certificate.expiresOn
    }
}

struct RegistrationRow: Sendable {
    let number: String
    let kind: String
    let right: String
    let applicant: Int64
    let status: String
    let submittedAt: String
    let noticeEndsOn: String
    let refusalText: String

    init(_ registration: RegistrationView) {
        number = registration.number
        kind = registration.kind
        right = registration.right
        applicant = registration.applicant
        status = registration.status.replacingOccurrences(of: "_", with: " ")
        submittedAt = registration.submittedAt
        noticeEndsOn = registration.noticeEndsOn ?? ""
        refusalText = registration.refusals.map { "\($0.rule): \($0.reason)" }.joined(separator: "; ")
    }
}

/// The policy as a table of rules, and as the ODRL document the API exports.
struct PolicySection: Sendable {
    struct RuleRow: Sendable {
        let ruleID: String
        let kind: String
        let action: String
        let duty: String
        let constraints: String
    }
    let version: Int
    let approval: String
    let price: String
    let dailyCap: String
    let updatedAt: String
    let rules: [RuleRow]
    let odrlText: String?
    let odrlHref: String

    init(_ policy: PolicyView, odrl: String?, dataset: String) {
        version = policy.version
        approval = policy.approval
        price = policy.pricePerMillionTokens == 0 ? "free" : "\(policy.pricePerMillionTokens.grouped) fen per million tokens"
        dailyCap = policy.dailyTokenCap.map { "\($0.grouped) tokens a day" } ?? "none"
        updatedAt = policy.updatedAt
        rules = policy.rules.map { rule in
            let c = rule.constraints
            var parts: [String] = []
            if let purposes = c?.purposes { parts.append("purposes: " + purposes.joined(separator: ", ")) }
            if let kinds = c?.assigneeKinds { parts.append("assignee kinds: " + kinds.map(\.rawValue).joined(separator: ", ")) }
            if let parties = c?.assigneeParties { parts.append("assignees: " + parties.map(String.init).joined(separator: ", ")) }
            if let regions = c?.regions { parts.append("regions: " + regions.joined(separator: ", ")) }
            if let notBefore = c?.notBefore { parts.append("not before \(notBefore)") }
            if let notAfter = c?.notAfter { parts.append("not after \(notAfter)") }
            if let maxTokens = c?.maxTokens { parts.append("at most \(maxTokens.grouped) tokens") }
            if let ceiling = c?.gradeCeiling { parts.append("grade at most \(ceiling.rawValue)") }
            if let days = c?.retentionDays { parts.append("delete after \(days) days") }
            return RuleRow(
                ruleID: rule.id, kind: rule.kind.rawValue, action: rule.action.rawValue, duty: rule.duty?.rawValue ?? "",
                constraints: parts.isEmpty ? "none" : parts.joined(separator: "; "))
        }
        odrlText = odrl
        odrlHref = "/console/datasets/\(dataset)/policy.jsonld"
    }
}

/// The restrictions in effect, each with the dataset it comes from (the API's `origins`), grouped by
/// restriction and origin so that a long list of purposes reads as one line.
struct RestrictionsSection: Sendable {
    struct Row: Sendable {
        let restriction: String
        let values: String
        let fromSelf: Bool
        let fromID: Int64
        let fromHref: String
    }
    let grade: String
    let piLevel: String
    let isFlaggedInEffect: Bool
    let ownGrade: String
    let ownPiLevel: String
    let sources: Int
    let rows: [Row]

    init(_ restrictions: RestrictionsView, dataset: Int64) {
        grade = restrictions.grade
        piLevel = restrictions.piLevel
        isFlaggedInEffect = restrictions.flagged
        ownGrade = restrictions.own.grade
        ownPiLevel = restrictions.own.piLevel
        sources = restrictions.sources
        let names = [
            "grade": "Grade (R12)", "piLevel": "Personal information (R12)", "flagged": "Flagged (R25)",
            "prohibition": "Prohibited purposes (R21)", "purposeNotPermitted": "Purposes not permitted (R21)",
            "regionNotPermitted": "Regions not permitted (R21)",
        ]
        var rows: [Row] = []
        for origin in restrictions.origins ?? [] {
            let restriction = names[origin.restriction] ?? origin.restriction
            if let index = rows.firstIndex(where: { $0.restriction == restriction && $0.fromID == origin.from }) {
                let row = rows[index]
                rows[index] = Row(
                    restriction: restriction, values: row.values + ", " + origin.value, fromSelf: row.fromSelf, fromID: row.fromID, fromHref: row.fromHref)
            } else {
                rows.append(Row(
                    restriction: restriction, values: origin.value, fromSelf: origin.from == dataset, fromID: origin.from,
                    fromHref: "/console/datasets/\(origin.from)"))
            }
        }
        self.rows = rows
    }
}

import RegistryCore

// Lineage (`LineageController`) and OpenLineage events (`OpenLineageController`): request bodies and views.

// MARK: Bodies

struct SourceBody: Decodable {
    let dataset: Int64
    let kind: TransformationKind
}

struct DerivationsBody: Decodable {
    let sources: [SourceBody]
}

struct FlagBody: Decodable {
    let reason: String
}

// MARK: Views

struct DerivationView: Encodable, Sendable {
    let id: Int64
    let source: Int64
    let target: Int64
    let kind: String
    let recordedBy: Int64
    let approvedBy: Int64?
    let recordedAt: String
}

extension DerivationView {
    init(_ derivation: Derivation) {
        id = derivation.id
        source = derivation.source.rawValue
        target = derivation.target.rawValue
        kind = derivation.kind.rawValue
        recordedBy = derivation.recordedBy.rawValue
        approvedBy = derivation.approvedBy?.rawValue
        recordedAt = derivation.recordedAt.description
    }
}

struct NodeView: Codable, Sendable {
    let id: Int64
    let title: String
    let holder: Int64
    let depth: Int32
    /// R25: the dataset or one of its ancestors is flagged (its restrictions in effect).
    let flagged: Bool

    /// The catalog view of a node reached by a walk.
    init?(_ node: Int32, depth: Int32, in state: RegistryState) {
        guard let dataset = state.dataset(DatasetID(rawValue: Int64(node))) else { return nil }
        id = dataset.id.rawValue
        title = dataset.title
        holder = dataset.holder.rawValue
        self.depth = depth
        flagged = state.lineage.graph.effectiveRestrictions(of: node).flagged
    }
}

struct BudgetView: Codable, Sendable {
    /// Nodes the walk was allowed to visit.
    let limit: Int
    let visited: Int
    /// True when the walk stopped because the budget ran out: the answer is partial.
    let exhausted: Bool
}

struct WalkPage: Codable, Sendable {
    let items: [NodeView]
    let nextCursor: String?
    let budget: BudgetView
}

struct RestrictionsView: Codable, Sendable {
    let dataset: Int64
    let grade: String
    let piLevel: String
    let flagged: Bool
    let own: Own
    let sources: Int
    /// With `origins=true`: each restriction in effect and the dataset that imposes it.
    let origins: [RestrictionOriginView]?

    struct Own: Codable, Sendable {
        let grade: String
        let piLevel: String
        let flagged: Bool
    }
}

/// A restriction in effect and where it comes from: the dataset itself or the nearest ancestor whose own
/// restrictions impose it (R12, R21, R25).
struct RestrictionOriginView: Codable, Sendable {
    let restriction: String
    let value: String
    let from: Int64

    init(_ origin: RegistryState.RestrictionOrigin) {
        restriction = origin.kind.rawValue
        value = origin.value
        from = origin.from.rawValue
    }
}

struct PathView: Encodable, Sendable {
    let path: [Int64]
}

struct ImpactView: Encodable, Sendable {
    /// A party concerned by the dataset or a descendant: what it is to them and on how many.
    struct PartyImpact: Encodable, Sendable {
        let id: Int64
        let name: String
        /// `holder`, `hold right`, `use right`, `operate right`, `grant`: the kinds of role it has on
        /// any of the datasets reached.
        let roles: [String]
        /// How many of the datasets reached (the dataset itself included) it has a role on.
        let datasets: Int
        /// Its grants not ended on them.
        let grants: Int
    }
    let dataset: Int64
    /// Descendants reached within the budget.
    let descendantCount: Int
    /// One page of them, nearest first, from `cursor`.
    let descendants: [NodeView]
    let nextCursor: String?
    /// Parties concerned by the dataset or a descendant reached.
    let partyCount: Int
    /// One page of them, in id order, after `partyCursor`.
    let parties: [PartyImpact]
    let nextPartyCursor: String?
    let budget: BudgetView
}

/// The answer to `POST /v1/datasets/{id}/flag`.
struct FlaggedView: Encodable {
    let dataset: Int64
    let reason: String
    let descendantsFlagged: [Int64]
    /// R25: grants on the dataset and its descendants, suspended in the same change.
    let grantsSuspended: [String]
}

// MARK: OpenLineage

/// An OpenLineage run event: the parts of it the registry reads.
struct RunEvent: Decodable {
    struct DatasetRef: Decodable, Encodable, Sendable {
        let namespace: String
        let name: String
    }
    struct Job: Decodable {
        let namespace: String?
        let name: String?
    }
    struct Run: Decodable {
        let runId: String?
    }
    let eventType: String?
    let eventTime: String?
    let run: Run?
    let job: Job?
    let inputs: [DatasetRef]?
    let outputs: [DatasetRef]?
}

/// What a run event recorded, what it skipped and which of its datasets the registry does not know.
struct OpenLineageOutcome: Encodable, Sendable {
    struct Edge: Encodable, Sendable {
        let derivation: Int64
        let source: Int64
        let target: Int64
    }
    let eventType: String
    let runId: String?
    /// A dataset both read and written by the run: the pair is not recorded.
    struct Skipped: Encodable, Sendable {
        let dataset: Int64
        let reason: String
    }
    let recorded: [Edge]
    let skipped: [Skipped]
    let unknownDatasets: [RunEvent.DatasetRef]
    let note: String?
}

// MARK: CSV rows (`Respond.page`)

extension DerivationView: CSVRow {
    static let csvExample = DerivationView(id: 1, source: 1, target: 2, kind: "", recordedBy: 1, approvedBy: nil, recordedAt: "")
}

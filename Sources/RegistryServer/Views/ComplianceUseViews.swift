import RegistryCore

// Compliance queries answered from the usage rollups (`ComplianceUseController`): rows and totals. Every
// row is flat (scalars only), so that it is served as CSV the same as JSON.

/// Use of a dataset (or a descendant) by one party for one purpose, in the period.
struct DatasetUseRowView: Encodable, Sendable {
    let party: Int64
    let partyName: String
    let purpose: String
    /// The dataset actually used.
    let dataset: Int64
    let datasetTitle: String
    /// `self` (the dataset asked about) or `descendant` (derived from it, directly or not).
    let relation: String
    let events: Int64
    let tokens: Int64
    /// Charged, in fen.
    let charge: Int64
}

struct DatasetUseTotalsView: Encodable, Sendable {
    let dataset: Int64
    let from: String
    let to: String
    let events: Int64
    let tokens: Int64
    let charge: Int64
    /// Datasets read: the dataset and its descendants within the budget.
    let datasetsRead: Int
    /// False when the descendants were more than the budget: then the answer covers `datasetsRead` of them.
    let complete: Bool
}

/// Quota denials (R27) of a lab, a dataset or a lab on a dataset, by quota.
struct QuotaDenialRowView: Encodable, Sendable {
    let lab: Int64?
    let labName: String?
    let dataset: Int64?
    let datasetTitle: String?
    let quota: String
    let events: Int64
    let tokens: Int64
}

struct QuotaDenialTotalsView: Encodable, Sendable {
    let from: String
    let to: String
    let events: Int64
    let tokens: Int64
}

/// One line of a processor's annual report.
struct AnnualReportLineView: Encodable, Sendable {
    let processor: Int64
    let processorName: String
    let year: Int
    /// `total`, `purpose`, `domain`, `region`, `storage` or `outbound`.
    let section: String
    /// Within the section: `total`, a purpose, a tag, a region code, `N days` / `not limited`, a dataset id.
    let key: String
    let grants: Int64
    let datasets: Int64
    let events: Int64
    let tokens: Int64
    let charge: Int64
    let individuals: Int64
}

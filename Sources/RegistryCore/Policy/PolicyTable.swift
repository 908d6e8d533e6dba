/// Every dataset's policy, kept small: holders reuse a few policies across many datasets, so each
/// distinct rule list is held once as a ``PolicyTemplate`` (its rules and compiled form) and a dataset's
/// row is the template's index with the record's other fields — about 60 bytes rather than the several
/// hundred a `PolicyRecord` and a `CompiledPolicy` of its own would take, half a million times over.
struct PolicyTable: Sendable {
    private struct Row: Sendable {
        var template: Int32
        var version: Int32
        var approval: ApprovalMode
        var price: Int64
        /// -1: no cap.
        var cap: Int64
        var updatedBy: Int64
        var updatedAt: Int64
    }

    private var rows: [DatasetID: Row] = [:]
    private var templates: [PolicyTemplate] = []
    private var templateIndexes: [[PolicyRule]: Int32] = [:]

    var count: Int { rows.count }
    var templateCount: Int { templates.count }

    /// The shared template for `rules`, made (and compiled) the first time these rules are seen.
    mutating func template(for rules: [PolicyRule]) -> PolicyTemplate {
        if let index = templateIndexes[rules] { return templates[Int(index)] }
        let template = PolicyTemplate(
            index: Int32(templates.count), rules: rules, compiled: CompiledPolicy(Policy(dataset: DatasetID(rawValue: 0), rules: rules)))
        templates.append(template)
        templateIndexes[rules] = template.index
        return template
    }

    /// Stores `record` with `template` (the template of its rules).
    mutating func set(_ record: PolicyRecord, template: PolicyTemplate) {
        rows[record.dataset] = Row(
            template: template.index, version: Int32(clamping: record.version), approval: record.approval,
            price: record.pricePerMillionTokens, cap: record.dailyTokenCap ?? -1, updatedBy: record.updatedBy.rawValue,
            updatedAt: record.updatedAt.rawValue)
    }

    subscript(dataset: DatasetID) -> PolicyRecord? {
        guard let row = rows[dataset] else { return nil }
        return PolicyRecord(
            dataset: dataset, version: Int(row.version), policy: Policy(dataset: dataset, rules: templates[Int(row.template)].rules),
            approval: row.approval, pricePerMillionTokens: row.price, dailyTokenCap: row.cap < 0 ? nil : row.cap,
            updatedBy: PartyID(rawValue: row.updatedBy), updatedAt: Timestamp(rawValue: row.updatedAt))
    }

    /// The rules and compiled form of `dataset`'s policy, without making its record: the decision path.
    func template(of dataset: DatasetID) -> PolicyTemplate? {
        rows[dataset].map { templates[Int($0.template)] }
    }

    func approval(of dataset: DatasetID) -> ApprovalMode? { rows[dataset]?.approval }

    /// Calls `body` with each dataset that has a policy and the policy's template.
    func forEach(_ body: (DatasetID, PolicyTemplate) -> Void) {
        for (dataset, row) in rows { body(dataset, templates[Int(row.template)]) }
    }

    /// Every record, by dataset.
    var all: [PolicyRecord] { rows.keys.sorted().compactMap { self[$0] } }
}

/// A policy's rules held once for every dataset that uses them, with their compiled form.
public struct PolicyTemplate: Sendable {
    let index: Int32
    public let rules: [PolicyRule]
    public let compiled: CompiledPolicy
}

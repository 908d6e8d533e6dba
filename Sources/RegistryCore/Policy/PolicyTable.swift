/// Every dataset's policy, kept small: holders reuse a few policies across many datasets, so each
/// distinct rule list is held once as a ``PolicyTemplate`` (its rules and compiled form) and a dataset's
/// row is the template's index with the record's other fields — about 60 bytes rather than the several
/// hundred a `PolicyRecord` and a `CompiledPolicy` of its own would take, half a million times over.
struct PolicyTable: Sendable {
    private struct Row: Sendable {
        var price: Int64
        /// -1: no cap.
        var cap: Int64
        var updatedAt: Int64
        var template: Int32
        var version: Int32
        var updatedBy: Int32
        var approval: ApprovalMode
    }

    /// By dataset id: 0 when it has no policy, else 1 + its row's index. Dense, like the datasets: 4
    /// bytes a dataset and 40 a policy, where a dictionary of rows took about 110 a policy.
    private var rowIndex: [UInt32] = []
    private var rows: [Row] = []
    private var templates: [PolicyTemplate] = []
    private var templateIndexes: [[PolicyRule]: Int32] = [:]
    /// Every distinct rule once: templates that share a rule (the same prohibition, the same duty)
    /// share its strings and arrays too.
    private var distinctRules: Set<PolicyRule> = []

    var count: Int { rows.count }
    /// The highest dataset id with a policy slot (policies are read by dataset id 1 … this).
    var datasetSlots: Int { rowIndex.count }
    var templateCount: Int { templates.count }

    /// The shared template for `rules`, made (and compiled) the first time these rules are seen.
    mutating func template(for rules: [PolicyRule]) -> PolicyTemplate {
        if let index = templateIndexes[rules] { return templates[Int(index)] }
        let shared = rules.map { rule in
            if let index = distinctRules.firstIndex(of: rule) { return distinctRules[index] }
            distinctRules.insert(rule)
            return rule
        }
        let template = PolicyTemplate(
            index: Int32(templates.count), rules: shared, compiled: CompiledPolicy(Policy(dataset: DatasetID(rawValue: 0), rules: shared)))
        templates.append(template)
        templateIndexes[shared] = template.index
        return template
    }

    private func row(of dataset: DatasetID) -> Row? {
        let id = dataset.rawValue
        guard id >= 1 && id <= Int64(rowIndex.count), rowIndex[Int(id - 1)] != 0 else { return nil }
        return rows[Int(rowIndex[Int(id - 1)] - 1)]
    }

    /// Stores `record` with `template` (the template of its rules).
    mutating func set(_ record: PolicyRecord, template: PolicyTemplate) {
        let id = record.dataset.rawValue
        precondition(id >= 1 && id < Int64(Int32.max) && record.updatedBy.rawValue < Int64(Int32.max), "dense ids below 2³¹")
        let row = Row(
            price: record.pricePerMillionTokens, cap: record.dailyTokenCap ?? -1, updatedAt: record.updatedAt.rawValue, template: template.index,
            version: Int32(clamping: record.version), updatedBy: Int32(record.updatedBy.rawValue), approval: record.approval)
        if id > Int64(rowIndex.count) { rowIndex.append(contentsOf: repeatElement(0, count: Int(id) - rowIndex.count)) }
        if rowIndex[Int(id - 1)] == 0 {
            rows.append(row)
            rowIndex[Int(id - 1)] = UInt32(rows.count)
        } else {
            rows[Int(rowIndex[Int(id - 1)] - 1)] = row
        }
    }

    subscript(dataset: DatasetID) -> PolicyRecord? {
        guard let row = row(of: dataset) else { return nil }
        return PolicyRecord(
            dataset: dataset, version: Int(row.version), policy: Policy(dataset: dataset, rules: templates[Int(row.template)].rules),
            approval: row.approval, pricePerMillionTokens: row.price, dailyTokenCap: row.cap < 0 ? nil : row.cap,
            updatedBy: PartyID(rawValue: Int64(row.updatedBy)), updatedAt: Timestamp(rawValue: row.updatedAt))
    }

    /// The rules and compiled form of `dataset`'s policy, without making its record: the decision path.
    func template(of dataset: DatasetID) -> PolicyTemplate? {
        row(of: dataset).map { templates[Int($0.template)] }
    }

    func approval(of dataset: DatasetID) -> ApprovalMode? { row(of: dataset)?.approval }

    /// Calls `body` with each dataset that has a policy and the policy's template, in dataset order.
    func forEach(_ body: (DatasetID, PolicyTemplate) -> Void) {
        for (index, slot) in rowIndex.enumerated() where slot != 0 {
            body(DatasetID(rawValue: Int64(index + 1)), templates[Int(rows[Int(slot - 1)].template)])
        }
    }

    /// Every record, by dataset.
    var all: [PolicyRecord] {
        rowIndex.indices.compactMap { rowIndex[$0] == 0 ? nil : self[DatasetID(rawValue: Int64($0 + 1))] }
    }
}

/// A policy's rules held once for every dataset that uses them, with their compiled form. A class, and
/// immutable: a decision takes its dataset's template with one retain, where as a struct it retained each
/// of the compiled policy's arrays.
public final class PolicyTemplate: Sendable {
    let index: Int32
    public let rules: [PolicyRule]
    public let compiled: CompiledPolicy

    init(index: Int32, rules: [PolicyRule], compiled: CompiledPolicy) {
        self.index = index
        self.rules = rules
        self.compiled = compiled
    }
}

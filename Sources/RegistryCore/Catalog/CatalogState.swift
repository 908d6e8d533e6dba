/// The catalog domain: parties, their API keys and the datasets they hold (R1, R11, R17), with the
/// indexes that find them. Changed only by ``apply(_:)`` with records the store has made durable.
public struct CatalogState: Sendable {
    public internal(set) var parties = DenseTable<Party>()
    public internal(set) var apiKeys = DenseTable<APIKey>()
    public internal(set) var datasets = DatasetTable()
    var partyByCreditCode: [String: PartyID] = [:]
    var apiKeyByPrefix: [String: APIKeyID] = [:]
    /// Counts the changes that move past usage between market statistics' values (issue 16): a dataset's
    /// holder or tags, a party's jurisdiction or sector. New records do not count (they have no past use),
    /// so statistics may keep what they computed for past days while this stays the same.
    public private(set) var statisticsRevision: Int64 = 0
    /// Counts every dataset written (new or changed), in this process: what the public catalog keeps
    /// between pages (its `modified` date) is current while this and the lineage's edges stay the same.
    public private(set) var datasetRevision: Int64 = 0

    public init() {}

    mutating func apply(_ party: Party) {
        if let old = parties[party.id.rawValue], old.jurisdiction != party.jurisdiction || old.sector != party.sector { statisticsRevision += 1 }
        parties.upsert(party, id: party.id.rawValue)
        if let code = party.creditCode { partyByCreditCode[code] = party.id }
    }

    mutating func apply(_ key: APIKey) {
        apiKeys.upsert(key, id: key.id.rawValue)
        apiKeyByPrefix[key.prefix] = key.id
    }

    mutating func apply(_ dataset: Dataset) {
        let before = (datasets.holder(of: dataset.id.rawValue), datasets.tagListIndex(of: dataset.id.rawValue))
        datasets.upsert(dataset, id: dataset.id.rawValue)
        datasetRevision += 1
        if let holder = before.0, holder != dataset.holder || before.1 != datasets.tagListIndex(of: dataset.id.rawValue) { statisticsRevision += 1 }
    }

    public func party(_ id: PartyID) -> Party? { parties[id.rawValue] }
    public func party(creditCode: String) -> PartyID? { partyByCreditCode[creditCode] }
    public func dataset(_ id: DatasetID) -> Dataset? { datasets[id.rawValue] }
    public func apiKey(prefix: String) -> APIKey? { apiKeyByPrefix[prefix].flatMap { apiKeys[$0.rawValue] } }
}

/// The catalog domain: parties, their API keys and the datasets they hold (R1, R11, R17), with the
/// indexes that find them. Changed only by ``apply(_:)`` with records the store has made durable.
public struct CatalogState: Sendable {
    public internal(set) var parties = DenseTable<Party>()
    public internal(set) var apiKeys = DenseTable<APIKey>()
    public internal(set) var datasets = DatasetTable()
    var partyByCreditCode: [String: PartyID] = [:]
    var apiKeyByPrefix: [String: APIKeyID] = [:]

    public init() {}

    mutating func apply(_ party: Party) {
        parties.upsert(party, id: party.id.rawValue)
        if let code = party.creditCode { partyByCreditCode[code] = party.id }
    }

    mutating func apply(_ key: APIKey) {
        apiKeys.upsert(key, id: key.id.rawValue)
        apiKeyByPrefix[key.prefix] = key.id
    }

    mutating func apply(_ dataset: Dataset) {
        datasets.upsert(dataset, id: dataset.id.rawValue)
    }

    public func party(_ id: PartyID) -> Party? { parties[id.rawValue] }
    public func party(creditCode: String) -> PartyID? { partyByCreditCode[creditCode] }
    public func dataset(_ id: DatasetID) -> Dataset? { datasets[id.rawValue] }
    public func apiKey(prefix: String) -> APIKey? { apiKeyByPrefix[prefix].flatMap { apiKeys[$0.rawValue] } }
}

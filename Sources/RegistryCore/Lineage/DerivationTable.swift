/// Every derivation record, stored column by column: 25 bytes an edge instead of a 72-byte optional
/// struct, since a national registry holds millions of them. Ids are dense from 1, as in ``DenseTable``;
/// reading a record builds the value.
public struct DerivationTable: Sendable, IDAddressedTable {
    private var source: [Int32] = []
    private var target: [Int32] = []
    private var kind: [UInt8] = []
    private var recordedBy: [Int32] = []
    /// 0 when not approved.
    private var approvedBy: [Int32] = []
    private var recordedAt: [Int64] = []

    public init() {}

    /// The id the next derivation gets.
    public var nextID: Int64 { Int64(source.count + 1) }
    public var count: Int { source.count }

    public subscript(id: Int64) -> Derivation? {
        guard id >= 1 && id <= Int64(source.count) else { return nil }
        let index = Int(id - 1)
        return Derivation(
            id: id, source: DatasetID(rawValue: Int64(source[index])), target: DatasetID(rawValue: Int64(target[index])),
            kind: TransformationKind(code: kind[index]), recordedBy: PartyID(rawValue: Int64(recordedBy[index])),
            approvedBy: approvedBy[index] == 0 ? nil : PartyID(rawValue: Int64(approvedBy[index])),
            recordedAt: Timestamp(microsecondsSince1970: recordedAt[index]))
    }

    /// Inserts the next derivation, or replaces an existing one (an approval).
    public mutating func upsert(_ derivation: Derivation) {
        precondition(derivation.id >= 1 && derivation.id <= nextID, "derivation ids are dense: \(derivation.id) after \(count)")
        precondition(derivation.source.rawValue <= Int64(Int32.max) && derivation.target.rawValue <= Int64(Int32.max), "dataset ids fit in 32 bits")
        if derivation.id == nextID {
            source.append(Int32(derivation.source.rawValue))
            target.append(Int32(derivation.target.rawValue))
            kind.append(derivation.kind.code)
            recordedBy.append(Int32(truncatingIfNeeded: derivation.recordedBy.rawValue))
            approvedBy.append(Int32(truncatingIfNeeded: derivation.approvedBy?.rawValue ?? 0))
            recordedAt.append(derivation.recordedAt.microsecondsSince1970)
            return
        }
        let index = Int(derivation.id - 1)
        kind[index] = derivation.kind.code
        approvedBy[index] = Int32(truncatingIfNeeded: derivation.approvedBy?.rawValue ?? 0)
    }

    /// Every record in id order.
    public var all: [Derivation] { (1..<nextID).compactMap { self[$0] } }

    public mutating func reserveCapacity(_ capacity: Int) {
        source.reserveCapacity(capacity)
        target.reserveCapacity(capacity)
        kind.reserveCapacity(capacity)
        recordedBy.reserveCapacity(capacity)
        approvedBy.reserveCapacity(capacity)
        recordedAt.reserveCapacity(capacity)
    }
}

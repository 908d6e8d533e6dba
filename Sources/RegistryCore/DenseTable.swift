/// Records addressed by dense ids 1, 2, 3 … in an array: O(1) lookup, iteration in id order (which is
/// what cursor pagination walks), no hashing. Ids are assigned by the core's single writer, so they
/// stay dense.
public struct DenseTable<Record: Sendable>: Sendable, IDAddressedTable {
    private var storage: [Record?] = []

    public init() {}

    /// The number of ids handed out so far (the highest id).
    public var count: Int { storage.count }
    /// The id the next record gets.
    public var nextID: Int64 { Int64(storage.count + 1) }

    public subscript(id: Int64) -> Record? {
        guard id >= 1 && id <= Int64(storage.count) else { return nil }
        return storage[Int(id - 1)]
    }

    /// Inserts or replaces the record at `id`. Ids beyond the end leave gaps (only a damaged database
    /// could make them; they read as absent).
    public mutating func upsert(_ record: Record, id: Int64) {
        precondition(id >= 1, "ids start at 1")
        let index = Int(id - 1)
        if index >= storage.count {
            storage.append(contentsOf: repeatElement(nil, count: index - storage.count + 1))
        }
        storage[index] = record
    }

    /// Every record in id order.
    public var all: [Record] { storage.compactMap { $0 } }
}

/// A table of records addressed by dense ids 1 … `count`, each read by id (made on demand by the row and
/// column tables): the shared paging every list endpoint uses.
public protocol IDAddressedTable {
    associatedtype Record
    /// The number of ids handed out so far (the highest id).
    var count: Int { get }
    subscript(id: Int64) -> Record? { get }
}

extension IDAddressedTable {
    /// Records with id greater than `after`, in id order, at most `limit`, that pass `filter`, scanning
    /// at most `budget` ids. Returns the records and the id to continue after (nil at the end).
    public func page(after: Int64, limit: Int, budget: Int, where filter: (Record) -> Bool) -> (records: [Record], continueAfter: Int64?) {
        var records: [Record] = []
        var index = max(0, Int(after))
        var scanned = 0
        while index < count && records.count < limit && scanned < budget {
            if let record = self[Int64(index + 1)], filter(record) { records.append(record) }
            index += 1
            scanned += 1
        }
        return (records, index < count ? Int64(index) : nil)
    }

    /// The number of ids that hold a record, counted without keeping any.
    public var presentCount: Int {
        var present = 0
        for id in 0..<count where self[Int64(id + 1)] != nil { present += 1 }
        return present
    }

    /// Every record in id order.
    public var all: [Record] { (0..<count).compactMap { self[Int64($0 + 1)] } }
}

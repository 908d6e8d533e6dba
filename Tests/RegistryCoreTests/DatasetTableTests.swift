import RegistryCore
import Testing

/// The dataset column store gives back exactly the records it was given.
@Suite struct DatasetTableTests {
    static let now = Timestamp(microsecondsSince1970: 1_795_399_200 * 1_000_000)

    @Test func everyDatasetComesBackAsItWasStored() {
        let synthetic = SyntheticRegistry.generate(datasets: 3_000, seed: 7, now: Self.now)
        var table = DatasetTable()
        for dataset in synthetic.datasets { table.upsert(dataset, id: dataset.id.rawValue) }
        #expect(table.all == synthetic.datasets)
        #expect(table.presentRows == 3_000)
        #expect(table.holder(of: 17) == synthetic.datasets[16].holder)
        #expect(table.isGovernmentData(17) == (synthetic.datasets[16].sharing != nil))
    }

    @Test func editsGapsAndOddValuesSurvive() {
        var table = DatasetTable()
        var dataset = SyntheticRegistry.generate(datasets: 1, seed: 1, now: Self.now).datasets[0]
        table.upsert(dataset, id: 1)
        // An edit replaces the text; a fingerprint that is not lowercase hex (a damaged row) is kept as written.
        dataset.title = "数据集 — renamed with “quotes”"
        dataset.description = ""
        dataset.fingerprint = "NOT-A-DIGEST"
        dataset.flagged = true
        dataset.flagReason = "source unlawful"
        dataset.tags = ["a", "b", "a"]
        dataset.sharing = .notShared(legalBasis: "Law art. 1")
        table.upsert(dataset, id: 1)
        #expect(table[1] == dataset)
        // A gap reads as absent; the next id follows the highest.
        var later = dataset
        later.id = DatasetID(rawValue: 5)
        table.upsert(later, id: 5)
        #expect(table[3] == nil)
        #expect(table[5] == later)
        #expect(table.nextID == 6)
        #expect(table.presentRows == 2)
        #expect(table.page(after: 0, limit: 10, budget: 10) { _ in true }.records.map(\.id.rawValue) == [1, 5])
    }
}

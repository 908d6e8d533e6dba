import Foundation
import Hummingbird
@testable import RegistryServer
import Testing
import TestSupport

/// The CSV encoder on its own (issue 16): RFC 4180 quoting read back by Python's standard `csv` module,
/// the documented flattening (dotted members, `;`-joined arrays, empty `nil`), a header that does not
/// depend on the rows, and the `Accept` negotiation.
@Suite struct CSVEncoderTests {
    struct Holder: Encodable, Sendable {
        let id: Int64
        let name: String?
    }

    struct Row: CSVRow {
        let id: Int64
        let title: String
        let ratio: Double
        let active: Bool
        let note: String?
        let holder: Holder?
        let tags: [String]
        let holders: [Holder]

        static let csvExample = Row(
            id: 1, title: "", ratio: 0, active: false, note: nil, holder: Holder(id: 1, name: nil), tags: [""], holders: [Holder(id: 1, name: nil)])
    }

    static let columns = [
        "id", "title", "ratio", "active", "note", "holder.id", "holder.name", "tags", "holders.id", "holders.name",
    ]

    @Test func columnsComeFromTheTypeSoAnEmptyPageStillHasItsHeader() async throws {
        #expect(CSV.columns(of: Row.self) == Self.columns)
        #expect(try CSV.document([Row]()) == Self.columns.joined(separator: ",") + "\r\n")
        #expect(try await StandardCSV.parse(try CSV.document([Row]())) == [Self.columns])
    }

    @Test func quotingIsRFC4180AndAStandardParserReadsBackEveryField() async throws {
        let awkward = "Counts, \"north\"\r\nand south\nand \"\""
        let rows = [
            Row(id: 7, title: awkward, ratio: 0.25, active: true, note: nil, holder: nil, tags: ["a,b", "c"], holders: []),
            Row(
                id: 8, title: "plain", ratio: 3, active: false, note: "x\ry", holder: Holder(id: 2, name: "Bureau \"B\""), tags: [],
                holders: [Holder(id: 3, name: "One"), Holder(id: 4, name: nil), Holder(id: 5, name: "Three")]),
        ]
        let text = try CSV.document(rows)
        #expect(text.hasSuffix("\r\n"))
        #expect(text.contains("\"Counts, \"\"north\"\"\r\nand south\nand \"\"\"\"\""), "quotes doubled, the field enclosed")
        let records = try await StandardCSV.parse(text)
        #expect(records == [
            Self.columns,
            ["7", awkward, "0.25", "true", "", "", "", "a,b;c", "", ""],
            ["8", "plain", "3", "false", "x\ry", "2", "Bureau \"B\"", "", "3;4;5", "One;;Three"],
        ])
    }

    @Test func fieldsWithoutSpecialCharactersAreWrittenAsTheyAre() {
        #expect(CSV.field("GR-2026-000001") == "GR-2026-000001")
        #expect(CSV.field("a b; c") == "a b; c")
        #expect(CSV.field("a,b") == "\"a,b\"")
        #expect(CSV.field("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSV.field("") == "")
    }

    @Test func everyListViewHasColumns() {
        // Their examples fill every optional object and array, or this stops the process.
        #expect(CSV.columns(of: PartyView.self).contains("creditCode"))
        #expect(CSV.columns(of: DatasetView.self).contains("sharing.category"))
        #expect(CSV.columns(of: DatasetView.self).contains("tags"))
        #expect(CSV.columns(of: RegistrationView.self).contains("evidence.sha256"))
        #expect(CSV.columns(of: RegistrationView.self).contains("objections.grounds"))
        #expect(CSV.columns(of: CertificateView.self).contains("holders.name"))
        #expect(CSV.columns(of: DerivationView.self).contains("approvedBy"))
        #expect(CSV.columns(of: AccessRequestView.self).contains("grant.number"))
        #expect(CSV.columns(of: AccessRequestView.self).contains("records.riskAssessment"))
        #expect(CSV.columns(of: GrantView.self).contains("retentionDays"))
        #expect(CSV.columns(of: AuditEntryView.self) == ["sequence", "at", "actor", "kind", "payload", "previousHash", "hash"])
        #expect(CSV.columns(of: UsageEventView.self) == [
            "id", "grant", "key", "tokens", "usedAt", "recordedAt", "status", "rule", "quota", "reason", "amount", "metadata",
        ])
        #expect(CSV.columns(of: DatasetUseRowView.self) == ["party", "partyName", "purpose", "dataset", "datasetTitle", "relation", "events", "tokens", "charge"])
        #expect(CSV.columns(of: QuotaDenialRowView.self) == ["lab", "labName", "dataset", "datasetTitle", "quota", "events", "tokens"])
        #expect(CSV.columns(of: AnnualReportLineView.self).first == "processor")
        #expect(CSV.columns(of: StatementCSVRow.self) == [
            "party", "from", "to", "kind", "side", "grant", "dataset", "counterparty", "postings", "tokens", "amount_fen",
        ])
    }

    @Test func acceptPrefersCSVOnlyWhenItRanksAboveJSON() {
        let cases: [(String, ResponseFormat)] = [
            ("text/csv", .csv),
            ("text/csv; charset=utf-8", .csv),
            ("TEXT/CSV", .csv),
            ("text/*", .csv),
            ("application/json", .json),
            ("*/*", .json),
            ("", .json),
            ("image/png", .json),
            ("text/csv, application/json", .csv),
            ("application/json, text/csv", .json),
            ("application/json;q=0.5, text/csv", .csv),
            ("text/csv;q=0.4, application/json;q=0.9", .json),
            ("text/csv;q=0, */*", .json),
            ("text/csv, */*;q=0.1", .csv),
            ("text/csv;q=bogus, application/json;q=0.1", .json),
            ("text/csv;q=2", .json),
        ]
        for (accept, expected) in cases {
            #expect(ResponseFormat.preferred(accept: accept.isEmpty ? [] : [accept]) == expected, "Accept: \(accept)")
        }
        #expect(ResponseFormat.preferred(accept: ["application/json;q=0.2", "text/csv"]) == .csv, "several Accept lines")
    }

    @Test func theNextLinkKeepsTheQueryAndReplacesTheCursor() {
        func request(_ target: String) -> Request {
            Request(head: .init(method: .get, scheme: "http", authority: "localhost", path: target), body: .init(buffer: .init()))
        }
        #expect(Respond.nextTarget(of: request("/v1/certificates"), cursor: "50") == "/v1/certificates?cursor=50")
        #expect(
            Respond.nextTarget(of: request("/v1/certificates?status=valid&cursor=10&format=csv"), cursor: "60")
                == "/v1/certificates?status=valid&format=csv&cursor=60")
        #expect(Respond.nextTarget(of: request("/v1/datasets?q=a%20b&%63ursor=3"), cursor: "9") == "/v1/datasets?q=a%20b&cursor=9")
        #expect(Respond.fileName("usage-events-GR-2026-000001") == "usage-events-GR-2026-000001")
        #expect(Respond.fileName("a\"b/c d") == "a_b_c_d")
    }
}

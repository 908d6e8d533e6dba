import Hummingbird
import RegistryCore

// Compliance queries (R29) and market statistics (issue 16): the envelope every answer shares. Each
// query's rows and totals are declared next to its controller's views (one file per group of queries).

/// A compliance or statistics answer: the rows of one page, the cursor to the next, totals over every row
/// (not only this page's) where the query has them, and `asOf` — the audit chain's sequence the answer
/// reflects (R30): every change up to that entry is in it, none after.
struct ComplianceAnswer<Row: Encodable & Sendable, Totals: Encodable & Sendable>: Encodable, Sendable {
    let asOf: Int64
    let items: [Row]
    let nextCursor: String?
    let totals: Totals?
}

/// The console reads the answers it shows as the API wrote them.
extension ComplianceAnswer: Decodable where Row: Decodable, Totals: Decodable {}

/// For answers without totals.
struct NoTotals: Encodable, Sendable {}

extension AuthenticatedContext {
    /// Regulators read every compliance answer; operators too where `operators` (they run the registry
    /// and answer for it). Anyone else is refused before anything is read.
    func requireRegulator(operators: Bool = true, _ what: String) throws {
        let kind = party.kind
        guard kind == .regulator || (operators && kind == .operator) else {
            throw Problem.from(.forbidden("only regulators\(operators ? " and operators" : "") \(what)"))
        }
    }
}

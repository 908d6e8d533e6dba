import RegistryCore

/// Next and previous links over the API's cursor. The API gives only the next cursor, so the page's
/// address carries the cursors before it (`trail`, at most ``Limits/consolePageTrail``) for the way back.
struct PagerView: Sendable {
    let previousHref: String?
    let nextHref: String?
    let hasPages: Bool
    /// The pager's `aria-label`: unique on its page.
    let pagerLabel: String

    /// - Parameters:
    ///   - path: the console page's path.
    ///   - query: the page's own parameters (filters), without `cursor` and `trail`.
    ///   - cursor: this page's cursor ("" for the first page).
    ///   - trail: the cursors of the pages before this one, oldest first.
    ///   - next: the API's `nextCursor`.
    init(path: String, query: [(String, String)], cursor: String, trail: [String], next: String?, label: String = "Pages") {
        pagerLabel = label
        func href(_ cursor: String, _ trail: [String]) -> String {
            var items = query.filter { !$0.1.isEmpty }
            if !cursor.isEmpty { items.append(("cursor", cursor)) }
            if !trail.isEmpty { items.append(("trail", trail.joined(separator: "."))) }
            guard !items.isEmpty else { return path }
            return path + "?" + items.map { "\(ConsoleAPI.percentEncoded($0.0))=\(ConsoleAPI.percentEncoded($0.1))" }.joined(separator: "&")
        }
        if let next {
            nextHref = href(next, Array((trail + [cursor]).suffix(Limits.consolePageTrail)))
        } else {
            nextHref = nil
        }
        if cursor.isEmpty {
            previousHref = nil
        } else {
            previousHref = href(trail.last ?? "", Array(trail.dropLast()))
        }
        hasPages = nextHref != nil || previousHref != nil
    }

    /// The trail of a page's query: cursors separated by dots (digits only; anything else is dropped).
    static func trail(_ text: String?) -> [String] {
        guard let text else { return [] }
        return text.split(separator: ".").prefix(Limits.consolePageTrail).map(String.init).filter { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }
}

import RegistryCore
import RegistryStore

// Metering and settlement (`UsageController`): request bodies and views. The usage body itself is read
// by `UsageBodyParser` (UsageBody.swift), not decoded.

// MARK: Bodies

struct DailyCapBody: Decodable {
    let dailyTokens: Int64?
}

// MARK: Views

/// Usage answers as JSON, written by hand (the hot write path).
enum UsageView {
    static func write(_ replies: [UsageReply], into text: inout String) {
        var accepted = 0
        var denied = 0
        var replayed = 0
        for reply in replies {
            if reply.answer.accepted { accepted += 1 } else { denied += 1 }
            if reply.replayed { replayed += 1 }
        }
        text += "{\"accepted\":\(accepted),\"denied\":\(denied),\"replayed\":\(replayed),\"results\":["
        for (index, reply) in replies.enumerated() {
            if index > 0 { text += "," }
            text += "{\"key\":"
            DecisionView.appendString(reply.key, to: &text)
            text += reply.answer.accepted ? ",\"status\":\"accepted\",\"event\":\"" : ",\"status\":\"denied\",\"event\":\""
            text += String(reply.answer.event)
            text += "\",\"amount\":"
            text += String(reply.answer.amount)
            if let rule = reply.answer.rule {
                text += ",\"rule\":"
                DecisionView.appendString(rule, to: &text)
            }
            if let quota = reply.answer.quota {
                text += ",\"quota\":\""
                text += quota.rawValue
                text += "\""
            }
            if let reason = reply.answer.reason {
                text += ",\"reason\":"
                DecisionView.appendString(reason, to: &text)
            }
            if reply.replayed { text += ",\"replayed\":true" }
            text += "}"
        }
        text += "]}"
    }
}

struct GrantUsageView: Codable, Sendable {
    let grant: String
    let dataset: Int64
    let assignee: Int64
    let tokenQuota: Int64
    let tokensUsed: Int64
    let tokensRemaining: Int64
    let charged: Int64
    let pricePerMillionTokens: Int64
    let free: Bool
}

struct DailyCapView: Encodable, Sendable {
    let party: Int64
    let dailyTokens: Int64?
}

struct LedgerBalanceView: Encodable, Sendable {
    let accounts: Int
    let debits: Int64
    let credits: Int64
    let storedDebits: Int64
    let storedCredits: Int64
    let balanced: Bool
}

struct StatementView: Encodable, Sendable {
    struct Line: Encodable, Sendable {
        let kind: String
        let side: String
        let grant: String
        let dataset: Int64
        let counterparty: Int64
        let postings: Int64
        let tokens: Int64
        let amount: Int64
    }

    let party: Int64
    let from: String
    let to: String
    let currency: String
    let openingBalance: Int64
    let debits: Int64
    let credits: Int64
    let closingBalance: Int64
    let lines: [Line]
    let truncated: Bool

    init(_ statement: Statement, from: CivilDate, to: CivilDate, grantNumbers: [GrantID: String]) {
        party = statement.party.rawValue
        self.from = from.description
        self.to = to.description
        currency = "CNY fen"
        openingBalance = statement.openingBalance
        debits = statement.debits
        credits = statement.credits
        closingBalance = statement.closingBalance
        lines = statement.lines.map { line in
            Line(
                kind: line.kind.rawValue, side: line.side, grant: grantNumbers[line.grant] ?? String(line.grant.rawValue), dataset: line.dataset.rawValue,
                counterparty: line.counterparty.rawValue, postings: line.postings, tokens: line.tokens, amount: line.amount)
        }
        truncated = statement.truncated
    }

    /// The same statement as CSV rows (`Respond.rows`): the opening balance, one row per line, the
    /// totals and the closing balance.
    var csvRows: [StatementCSVRow] {
        func total(_ kind: String, _ amount: Int64) -> StatementCSVRow {
            StatementCSVRow(
                party: party, from: from, to: to, kind: kind, side: nil, grant: nil, dataset: nil, counterparty: nil, postings: nil, tokens: nil,
                amountFen: amount)
        }
        var rows = [total("opening_balance", openingBalance)]
        rows.reserveCapacity(lines.count + 4)
        for line in lines {
            rows.append(StatementCSVRow(
                party: party, from: from, to: to, kind: line.kind, side: line.side, grant: line.grant, dataset: line.dataset,
                counterparty: line.counterparty, postings: line.postings, tokens: line.tokens, amountFen: line.amount))
        }
        rows += [total("total_debits", debits), total("total_credits", credits), total("closing_balance", closingBalance)]
        return rows
    }
}

/// One row of a statement's CSV: its header is
/// `party,from,to,kind,side,grant,dataset,counterparty,postings,tokens,amount_fen`, and the balance and
/// total rows leave the columns of a line empty.
struct StatementCSVRow: CSVRow {
    let party: Int64
    let from: String
    let to: String
    let kind: String
    let side: String?
    let grant: String?
    let dataset: Int64?
    let counterparty: Int64?
    let postings: Int64?
    let tokens: Int64?
    let amountFen: Int64

    enum CodingKeys: String, CodingKey {
        case party, from, to, kind, side, grant, dataset, counterparty, postings, tokens
        case amountFen = "amount_fen"
    }

    static let csvExample = StatementCSVRow(
        party: 1, from: "", to: "", kind: "", side: nil, grant: nil, dataset: nil, counterparty: nil, postings: nil, tokens: nil, amountFen: 0)
}

/// One usage event as recorded (R26–R28), accepted or denied: what `GET /v1/grants/{number}/usage/events`
/// lists. `metadata` is the JSON object sent with the event, as text (PostgreSQL's jsonb rendering of it),
/// as an audit entry's `payload` is.
struct UsageEventView: CSVRow, Decodable {
    let id: Int64
    let grant: String
    let key: String
    let tokens: Int64
    let usedAt: String
    let recordedAt: String
    /// `accepted` or `denied`.
    let status: String
    /// For a denial: the rule that denied it (R23, R25, R26, R27 …), the quota (R27) and why.
    let rule: String?
    let quota: String?
    let reason: String?
    /// Fen charged (0 when denied or free).
    let amount: Int64
    let metadata: String?

    static let csvExample = UsageEventView(
        id: 1, grant: "", key: "", tokens: 1, usedAt: "", recordedAt: "", status: "", rule: nil, quota: nil, reason: nil, amount: 0, metadata: nil)
}

extension UsageEventView {
    init(_ event: RecordedUsageEvent, grant: String) {
        id = event.id
        self.grant = grant
        key = event.key
        tokens = event.tokens
        usedAt = event.usedAt.description
        recordedAt = event.recordedAt.description
        status = event.accepted ? "accepted" : "denied"
        rule = event.rule
        quota = event.quota?.rawValue
        reason = event.reason
        amount = event.amount
        metadata = event.metadata
    }
}

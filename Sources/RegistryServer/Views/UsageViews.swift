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

struct GrantUsageView: Encodable, Sendable {
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

    /// The same statement as CSV: a header, the opening balance, one row per line, the closing balance.
    static func csv(_ statement: Statement, from: CivilDate, to: CivilDate, grantNumbers: [GrantID: String]) -> String {
        let view = StatementView(statement, from: from, to: to, grantNumbers: grantNumbers)
        var text = "party,from,to,kind,side,grant,dataset,counterparty,postings,tokens,amount_fen\r\n"
        let prefix = "\(view.party),\(view.from),\(view.to)"
        text += "\(prefix),opening_balance,,,,,,,\(view.openingBalance)\r\n"
        for line in view.lines {
            text += "\(prefix),\(line.kind),\(line.side),\(csvField(line.grant)),\(line.dataset),\(line.counterparty),\(line.postings),\(line.tokens),\(line.amount)\r\n"
        }
        text += "\(prefix),total_debits,,,,,,,\(view.debits)\r\n"
        text += "\(prefix),total_credits,,,,,,,\(view.credits)\r\n"
        text += "\(prefix),closing_balance,,,,,,,\(view.closingBalance)\r\n"
        return text
    }

    /// RFC 4180: quoted when it holds a comma, quote or line break.
    static func csvField(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        var quoted = "\""
        for character in value {
            quoted.append(character)
            if character == "\"" { quoted.append("\"") }
        }
        return quoted + "\""
    }
}

/// The forms a statement is served in.
enum StatementFormat: String, CaseIterable {
    case json, csv
}

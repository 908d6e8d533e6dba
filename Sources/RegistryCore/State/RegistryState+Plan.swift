/// Planning: the core decides every rule here, against the current state, and returns the whole
/// records that change. Nothing is applied until the store has made them durable.
extension RegistryState {
    /// The changes `command` makes when `actor` issues it at `now` (nil actor: the system or a local
    /// operator tool). Throws when the command must not happen.
    public func plan(_ command: RegistryCommand, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        switch command {
        case .catalog(let command): try planCatalog(command, by: actor, at: now)
        case .rights(let command): try planRights(command, by: actor, at: now)
        case .lineage(let command): try planLineage(command, by: actor, at: now)
        case .market(let command): try planMarket(command, by: actor, at: now)
        case .settings(let command): try planSettings(command, by: actor, at: now)
        }
    }

    /// The local date at `now` in the registry's calendar.
    public func today(at now: Timestamp) -> CivilDate {
        settings.calendar.date(at: now)
    }

    func require(_ actor: Party?, is kinds: Set<PartyKind>, to action: String) throws(RegistryError) {
        guard let actor else { return }  // local operator tools act as the system
        guard kinds.contains(actor.kind) else {
            throw .forbidden("\(actor.kind.withArticle) may not \(action)")
        }
    }

    static func registrationNumber(_ id: RegistrationID, on date: CivilDate) -> String {
        "REG-\(date.components.year)-" + zeroPadded(id.rawValue, width: 8)
    }

    static func certificateNumber(_ id: CertificateID, on date: CivilDate) -> String {
        "CERT-\(date.components.year)-" + zeroPadded(id.rawValue, width: 8)
    }

    static func zeroPadded(_ value: Int64, width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

extension String {
    var trimmingWhitespace: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}

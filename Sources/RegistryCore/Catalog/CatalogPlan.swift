/// Planning the catalog: parties, API keys and datasets (R1, R11, R17).
extension RegistryState {
    /// The changes a catalog command makes.
    func planCatalog(_ command: CatalogCommand, by actor: Party?, at now: Timestamp) throws(RegistryError) -> [ChangeEntry] {
        switch command {
        case .registerParty(let new):
            try require(actor, is: [.operator], to: "register parties")
            return [ChangeEntry(.partyRegistered, .party(try validParty(new, at: now)))]
        case .issueAPIKey(let partyID, let prefix, let secretHash, let label):
            try require(actor, is: [.operator], to: "issue API keys")
            guard party(partyID) != nil else { throw .notFound("party \(partyID.rawValue)") }
            guard apiKey(prefix: prefix) == nil else { throw .conflict("an API key with prefix \(prefix) exists") }
            guard label.count <= Limits.maxShortTextLength else { throw .invalid([FieldProblem("label", "at most \(Limits.maxShortTextLength) characters")]) }
            let key = APIKey(
                id: APIKeyID(rawValue: catalog.apiKeys.nextID), party: partyID, prefix: prefix, secretHash: secretHash, label: label,
                createdAt: now, revokedAt: nil)
            return [ChangeEntry(.apiKeyIssued, .apiKey(key))]
        case .revokeAPIKey(let prefix):
            try require(actor, is: [.operator], to: "revoke API keys")
            guard var key = apiKey(prefix: prefix) else { throw .notFound("API key \(prefix)") }
            guard key.revokedAt == nil else { throw .conflict("API key \(prefix) is already revoked") }
            key.revokedAt = now
            return [ChangeEntry(.apiKeyRevoked, .apiKey(key))]
        case .registerDataset(let new):
            guard let actor, actor.kind.mayHoldData else {
                throw .forbidden("only departments, enterprises and model labs hold datasets")
            }
            return [ChangeEntry(.datasetRegistered, .dataset(try validDataset(new, holder: actor, at: now)))]
        case .updateDataset(let id, let patch):
            guard let actor else { throw .forbidden("datasets are edited by their holders") }
            guard let dataset = dataset(id) else { throw .notFound("dataset \(id.rawValue)") }
            guard dataset.holder == actor.id else { throw .forbidden("only the holder of dataset \(id.rawValue) edits it") }
            return [ChangeEntry(.datasetUpdated, .dataset(try patched(dataset, with: patch, holder: actor, at: now)))]
        }
    }

    private func validParty(_ new: NewParty, at now: Timestamp) throws(RegistryError) -> Party {
        var problems: [FieldProblem] = []
        let name = new.name.trimmingWhitespace
        if name.isEmpty || name.count > Limits.maxShortTextLength {
            problems.append(FieldProblem("name", "required, at most \(Limits.maxShortTextLength) characters"))
        }
        if !Regions.isKnown(new.region) {
            problems.append(FieldProblem("region", "must be a provincial code such as CN-BJ, or a two-letter country code outside China"))
        } else if new.jurisdiction == .mainland && !Regions.isMainland(new.region) {
            problems.append(FieldProblem("region", "\(new.region) is outside the mainland jurisdiction"))
        } else if new.jurisdiction == .outside && Regions.isMainland(new.region) {
            problems.append(FieldProblem("jurisdiction", "\(new.region) is in the mainland jurisdiction"))
        }
        if let code = new.creditCode {
            if let problem = CreditCode.problem(with: code) {
                problems.append(FieldProblem("creditCode", problem))
            } else if let existing = catalog.partyByCreditCode[code] {
                throw .conflict("credit code \(code) is already registered to party \(existing.rawValue)")
            }
        } else if new.jurisdiction == .mainland && new.kind.mayHoldData {
            problems.append(FieldProblem("creditCode", "required for a mainland \(new.kind.rawValue) (GB 32100-2015)"))
        }
        if !problems.isEmpty { throw .invalid(problems) }
        return Party(
            id: PartyID(rawValue: catalog.parties.nextID), name: name, kind: new.kind, region: new.region, jurisdiction: new.jurisdiction,
            creditCode: new.creditCode, sector: new.sector, createdAt: now)
    }

    private func validDataset(_ new: NewDataset, holder: Party, at now: Timestamp) throws(RegistryError) -> Dataset {
        var problems: [FieldProblem] = []
        let title = new.title.trimmingWhitespace
        if title.isEmpty || title.count > Limits.maxShortTextLength {
            problems.append(FieldProblem("title", "required, at most \(Limits.maxShortTextLength) characters"))
        }
        if new.description.count > Limits.maxLongTextLength {
            problems.append(FieldProblem("description", "at most \(Limits.maxLongTextLength) characters"))
        }
        if new.individualsCovered < 0 || new.individualsCovered > Limits.maxIndividualsCovered {
            problems.append(FieldProblem("individualsCovered", "must be between 0 and \(Limits.maxIndividualsCovered)"))
        }
        if new.personalInformation != .none && new.individualsCovered == 0 {
            problems.append(FieldProblem("individualsCovered", "a dataset with personal information covers at least one individual (R11)"))
        }
        if Regions.provincial[new.region] == nil { problems.append(FieldProblem("region", "must be a provincial code such as CN-BJ")) }
        if !Evidence.isDigest(new.fingerprint) {
            problems.append(FieldProblem("fingerprint", "must be the SHA-256 of the manifest: 64 lowercase hex digits"))
        }
        if new.format.isEmpty || new.format.count > Limits.maxTagLength { problems.append(FieldProblem("format", "required, at most \(Limits.maxTagLength) characters")) }
        if new.updateCycle.isEmpty || new.updateCycle.count > Limits.maxTagLength {
            problems.append(FieldProblem("updateCycle", "required, at most \(Limits.maxTagLength) characters"))
        }
        if new.sizeBytes < 0 || new.sizeBytes > Limits.maxDatasetSizeBytes {
            problems.append(FieldProblem("sizeBytes", "must be between 0 and \(Limits.maxDatasetSizeBytes)"))
        }
        if new.tags.count > Limits.maxTagsPerDataset { problems.append(FieldProblem("tags", "at most \(Limits.maxTagsPerDataset) tags")) }
        for (index, tag) in new.tags.enumerated() where tag.isEmpty || tag.count > Limits.maxTagLength {
            problems.append(FieldProblem("tags[\(index)]", "1 to \(Limits.maxTagLength) characters"))
        }
        if holder.kind == .department && new.sharing == nil {
            problems.append(FieldProblem("sharing", "government data needs a sharing category: unconditional, conditional or not_shared (R17)"))
        }
        if holder.kind != .department && new.sharing != nil {
            problems.append(FieldProblem("sharing", "only government departments' data has a sharing category (R17)"))
        }
        if !problems.isEmpty { throw .invalid(problems) }
        let id = DatasetID(rawValue: catalog.datasets.nextID)
        return Dataset(
            id: id, holder: holder.id, title: title, description: new.description, grade: new.grade,
            personalInformation: new.personalInformation, individualsCovered: new.individualsCovered, region: new.region,
            sharing: new.sharing, fingerprint: new.fingerprint, format: new.format, updateCycle: new.updateCycle,
            sizeBytes: new.sizeBytes, tags: new.tags, createdAt: now, updatedAt: now)
    }

    /// A dataset with `patch` applied, validated like a new one. A certified fingerprint changes only
    /// through a change registration (R9: certificates bind to it).
    private func patched(_ dataset: Dataset, with patch: DatasetPatch, holder: Party, at now: Timestamp) throws(RegistryError) -> Dataset {
        if let fingerprint = patch.fingerprint, fingerprint != dataset.fingerprint,
            rights.certificates(of: dataset.id).contains(where: { $0.state == .active })
        {
            throw .conflict("the fingerprint of dataset \(dataset.id.rawValue) is certified; register a change to update it")
        }
        let merged = NewDataset(
            title: patch.title ?? dataset.title, description: patch.description ?? dataset.description, grade: patch.grade ?? dataset.grade,
            personalInformation: patch.personalInformation ?? dataset.personalInformation,
            individualsCovered: patch.individualsCovered ?? dataset.individualsCovered, region: dataset.region,
            sharing: patch.sharing ?? dataset.sharing, fingerprint: patch.fingerprint ?? dataset.fingerprint,
            format: patch.format ?? dataset.format, updateCycle: patch.updateCycle ?? dataset.updateCycle,
            sizeBytes: patch.sizeBytes ?? dataset.sizeBytes, tags: patch.tags ?? dataset.tags)
        var updated = try validDataset(merged, holder: holder, at: now)
        updated.id = dataset.id
        updated.createdAt = dataset.createdAt
        return updated
    }
}

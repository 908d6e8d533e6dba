/// The public catalog (issue 17): which datasets anyone, without a key, may read about, and in how much
/// detail. `GET /v1/catalog/dcat` (DCAT-AP 3) is its one reader.
///
/// A dataset is **in the public catalog** unless, in effect (its own record or any ancestor's, R12/R21):
/// - its grade is core (R13: neither registrable nor grantable outside its holder, so nothing to offer);
/// - it is government data that is not shared (R17): its catalog entry is the legal basis for not
///   sharing it;
/// - it is flagged (R25): revoked, or derived from data whose source was marked unlawful; no access
///   request can succeed and the flag's reason is not public.
///
/// Such a dataset is **absent**, not listed bare: a bare entry would still tell that the registry holds
/// one more dataset, when, and (by its place in id order) next to which others. Nothing the public
/// catalog answers is computed over absent datasets: no total of any kind, and its `modified` date is
/// the latest change of a dataset that is in it. The not-shared rule is the dataset's own entry: R17
/// is a department's decision about its own data and derived datasets carry no sharing entry.
///
/// Every party the registry knows is public by name (certificates name their holders to anyone, R9),
/// so no dataset is hidden for its holder; only the holder's name is exported.
extension RegistryState {
    /// The grade in effect of dataset `id`: its own or its highest ancestor's (R12).
    public func gradeInEffect(of id: DatasetID) -> Grade {
        lineage.graph.effectiveRestrictions(of: Int32(id.rawValue)).grade
    }

    /// Whether dataset `id` is in the public catalog (see the type's notes): not core, not flagged in
    /// effect, and not government data that is not shared. A missing id is not.
    public func isInPublicCatalog(_ id: DatasetID) -> Bool {
        guard catalog.datasets.holder(of: id.rawValue) != nil else { return false }
        let effective = lineage.graph.effectiveRestrictions(of: Int32(id.rawValue))
        return effective.grade != .core && !effective.flagged && !catalog.datasets.isNotShared(id.rawValue)
    }

    /// A page of the public catalog in id order after `cursor`, filtered as `GET /v1/datasets` filters
    /// (but on the grade in effect, which is the grade the catalog states). Like every list, a page scans
    /// at most ``Limits/maxScanPerPage`` ids and may come back short with a cursor.
    public func publicCatalogPage(_ filter: DatasetFilter, after cursor: Int64, limit: Int) -> (datasets: [Dataset], next: Int64?) {
        var own = filter
        let grade = own.grade
        own.grade = nil
        let page = catalog.datasets.page(after: cursor, limit: min(limit, Limits.maxPageSize), budget: Limits.maxScanPerPage) { dataset in
            guard isInPublicCatalog(dataset.id), own.matches(dataset) else { return false }
            return grade == nil || gradeInEffect(of: dataset.id) == grade
        }
        return (page.records, page.continueAfter)
    }

    /// What the public catalog depends on, as a value that changes whenever the catalog may have: every
    /// dataset written (grade, sharing, flag, dates) and every derivation edge (grades and flags in
    /// effect). Usage, grants and the rest leave it alone, so a reader may keep what it computed over
    /// the catalog while this stays the same.
    public var publicCatalogRevision: PublicCatalogRevision {
        PublicCatalogRevision(datasets: catalog.datasetRevision, edges: lineage.derivations.count)
    }

    /// The latest `updatedAt` of the datasets in the public catalog, or nil when it is empty: one pass
    /// over single columns (no record is made), a few nanoseconds a dataset.
    public func publicCatalogModified() -> Timestamp? {
        var latest: Timestamp?
        var id: Int64 = 1
        let last = Int64(catalog.datasets.count)
        while id <= last {
            if let updated = catalog.datasets.updatedAt(of: id), latest.map({ updated > $0 }) ?? true, isInPublicCatalog(DatasetID(rawValue: id)) {
                latest = updated
            }
            id += 1
        }
        return latest
    }
}

/// See ``RegistryState/publicCatalogRevision``. Counted in this process: a core rebuilt from PostgreSQL
/// starts again, and a reader keeping a value across a rebuild may, rarely, keep it one change too long.
public struct PublicCatalogRevision: Hashable, Sendable {
    let datasets: Int64
    let edges: Int
}

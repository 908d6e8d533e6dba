/// The lineage domain: derivations between datasets, the graph that holds them with every dataset's
/// effective restrictions kept current (R10–R12, R21, R25), and the flag cascades recorded. Changed only
/// by ``apply(_:)`` with records the store has made durable.
public struct LineageState: Sendable {
    /// The lineage of every dataset, with effective restrictions kept current.
    public internal(set) var graph = LineageGraph()
    public internal(set) var derivations = DerivationTable()
    public internal(set) var flagCascades = DenseTable<FlagCascade>()
    /// Working memory of the single writer's graph updates (readers bring their own).
    var scratch = TraversalScratch()

    public init() {}

    /// A dataset's own restrictions follow its grade, personal information and flag.
    mutating func apply(_ dataset: Dataset) {
        let node = Int32(dataset.id.rawValue)
        graph.ensureNode(node)
        var restrictions = graph.ownRestrictions(of: node)
        restrictions.grade = dataset.grade
        restrictions.personalInformation = dataset.personalInformation
        restrictions.individualsCovered = Restrictions.saturated(dataset.individualsCovered)
        restrictions.flagged = dataset.flagged
        graph.setOwnRestrictions(restrictions, of: node, scratch: &scratch)
    }

    mutating func apply(_ derivation: Derivation) {
        let source = Int32(derivation.source.rawValue)
        let target = Int32(derivation.target.rawValue)
        if derivations[derivation.id] == nil {
            do {
                try graph.addEdge(from: source, to: target, kind: derivation.kind, scratch: &scratch)
            } catch {
                preconditionFailure("a planned derivation must fit the graph: \(error)")
            }
        } else {
            graph.setKind(derivation.kind, from: source, to: target, scratch: &scratch)
        }
        derivations.upsert(derivation)
    }

    mutating func apply(_ cascade: FlagCascade) {
        flagCascades.upsert(cascade, id: cascade.id)
    }

    /// R21: `dataset`'s own restrictions with the part its policy contributes, propagated to its
    /// descendants (or, during a rebuild, left for the one topological pass at the end).
    mutating func applyPolicy(_ template: PolicyTemplate, to dataset: DatasetID, rebuilding: Bool) {
        let node = Int32(dataset.rawValue)
        let contribution = template.compiled.restrictionContribution()
        var restrictions = graph.ownRestrictions(of: node)
        restrictions.prohibitions = contribution.prohibitedPurposes
        restrictions.permittedPurposes = contribution.permittedPurposes
        restrictions.permittedRegions = contribution.permittedRegions
        if rebuilding {
            graph.setOwnRestrictionsForRebuild(restrictions, of: node)
        } else {
            graph.setOwnRestrictions(restrictions, of: node, scratch: &scratch)
        }
    }

    /// One derivation of a rebuild, trusted (it was checked when recorded); call ``finishLoading()`` after
    /// the last.
    mutating func appendLoaded(_ derivation: Derivation) {
        derivations.upsert(derivation)
        graph.appendTrustedEdge(from: Int32(derivation.source.rawValue), to: Int32(derivation.target.rawValue), kind: derivation.kind)
    }

    /// Computes every dataset's effective restrictions in one topological pass.
    mutating func finishLoading() {
        graph.recomputeAll(scratch: &scratch)
        graph.compact()
    }
}

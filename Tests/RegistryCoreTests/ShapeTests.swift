@testable import RegistryCore
import Testing

/// The shape the core relies on: rules and audit kinds as types, the numbers of the rules and their
/// relations, the packed rows' sizes, and the state's copy-on-write domains.
@Suite struct ShapeTests {
    @Test func everyRuleOfTheBriefIsOneCaseWithAOneLineStatement() {
        #expect(Rule.allCases.map(\.rawValue) == (1...30).map { "R\($0)" })
        #expect(Rule.allCases.map(\.number) == Array(1...30))
        #expect(Rule.allCases.sorted() == Rule.allCases)
        for rule in Rule.allCases {
            #expect(!rule.statement.isEmpty && !rule.statement.contains("\n"), "\(rule.rawValue)")
            #expect(rule.statement.hasSuffix("."), "\(rule.rawValue)")
        }
        #expect(Set(Rule.allCases.map(\.statement)).count == Rule.allCases.count)
    }

    /// R30: an audit kind's raw value is what the chain stores and hashes; every grant state and
    /// registration status has its kind, in the shape `domain.change`.
    @Test func R30_auditKindsAreDistinctAndCoverEveryStateTheyName() {
        #expect(Set(AuditKind.allCases.map(\.rawValue)).count == AuditKind.allCases.count)
        for kind in AuditKind.allCases {
            let parts = kind.rawValue.split(separator: ".")
            #expect(parts.count == 2 && parts.allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "_" } }, "\(kind.rawValue)")
        }
        for state in AccessState.allCases { #expect(AuditKind.grant(state).rawValue == "grant.\(state.rawValue)") }
        for status in RegistrationStatus.allCases {
            #expect(AuditKind.registration(status).rawValue == "registration.\(status.rawValue)")
        }
        #expect(RegistryState.usageAuditKind.rawValue == "usage.batch")
    }

    /// The numbers the rules state, and how they must relate for the rules to mean anything.
    @Test func R4_R9_R16_R28_theRulesNumbersHoldTheirRelations() {
        #expect(Limits.noticePeriodWorkingDays == 10)
        #expect(Limits.certificateValidityYears == 3)
        // R16: the sensitive threshold is the lowest, the standard contract comes before the assessment.
        #expect(Limits.crossBorderSecurityAssessmentSensitiveIndividuals < Limits.crossBorderStandardContractIndividuals)
        #expect(Limits.crossBorderStandardContractIndividuals < Limits.crossBorderSecurityAssessmentIndividuals)
        #expect(Limits.crossBorderSecurityAssessmentIndividuals <= Limits.maxIndividualsCovered)
        // R16/R29: "near" is a share of a threshold strictly between nothing and all of it, exact in whole individuals.
        #expect(0 < Limits.crossBorderNearThresholdPercent && Limits.crossBorderNearThresholdPercent < 100)
        #expect(Limits.crossBorderSecurityAssessmentSensitiveIndividuals % 100 == 0)
        // R28: the default share per edge fits the pool, and the pool leaves the holder something.
        #expect(0 < Limits.defaultRoyaltyShareBasisPoints && Limits.defaultRoyaltyShareBasisPoints <= Limits.maxRoyaltyPoolBasisPoints)
        #expect(Limits.maxRoyaltyPoolBasisPoints < 10_000)
        // R23: the default fee ceiling is a price a policy may set.
        #expect(Limits.defaultPublicDataFeeCeiling <= Limits.maxPricePerMillionTokens)
        #expect(Limits.policyRetentionDaysRange.lowerBound >= 1)
        #expect(Limits().validate().isEmpty)
        #expect(1_000_000.grouped == "1,000,000" && 999.grouped == "999" && (-12_345).grouped == "-12,345")
    }

    /// Market statistics (issue 16, for R29): the public small-cell threshold is one a cell's party
    /// tracker can count to (it keeps at most that many ids), more than one party (else nothing is
    /// hidden), and a period is at most a (leap) year, the span statements allow too.
    @Test func R29_theStatisticsNumbersHoldTheirRelations() {
        #expect(Limits.minPartiesPerPublicStatisticsCell == 3)
        #expect(1 < Limits.minPartiesPerPublicStatisticsCell && Limits.minPartiesPerPublicStatisticsCell <= FewDistinctParties.capacity)
        #expect(1 <= Limits.maxStatisticsDays && Limits.maxStatisticsDays <= 366 && Limits.maxStatisticsDays <= Limits.maxStatementDays)
    }

    /// An import (issue 17) never keeps more requests in flight than the edge lets one key have by
    /// default, its key fits the idempotency key's bound (`imp-` + 32 hex + `-` + a line number), and it
    /// keeps retrying an unanswered server longer than the longest wait a `Retry-After` asks for.
    @Test func importNumbersHoldTheirRelations() {
        #expect(1 <= Limits.defaultImportConcurrency && Limits.defaultImportConcurrency <= Limits.maxImportConcurrency)
        #expect(Limits.maxImportConcurrency <= EdgeLimits().maxConcurrentRequestsPerKey)
        #expect(4 + 32 + 1 + String(Limits.maxImportLines).count <= Limits.maxIdempotencyKeyBytes)
        #expect(Limits.maxImportRetryAfterSeconds < Limits.importUnreachableSeconds)
        #expect(Limits.maxIdempotencyKeysPrunedPerTick > 0 && Limits.idempotencyKeyRetentionDays >= 1)
    }

    /// The packed tables' memory budgets (their doc comments and the cold-start figures) rest on these
    /// row sizes: a field added to a row shows up here first.
    @Test func packedRowsKeepTheirSizes() {
        #expect(MemoryLayout<RegistrationTable.Row>.stride == 72)
        #expect(MemoryLayout<CertificateTable.Row>.stride == 72)
        #expect(MemoryLayout<GrantTable.Row>.stride == 104)
        #expect(MemoryLayout<AccessRequestTable.Row>.stride == 104)
        #expect(MemoryLayout<ReachabilityIndex.Interval>.stride == 8)
    }

    /// The state is a handful of references: one box per domain (a copy is that many retains), and a
    /// change to a copy leaves the original as it was.
    @Test func theStateCopiesByDomainAndAWriteLeavesOtherCopiesAlone() throws {
        // catalog, rights, market and usage boxes; the lineage, settings, caps and audit head inline.
        #expect(MemoryLayout<RegistryState>.size <= 4 * 8 + MemoryLayout<LineageState>.size + MemoryLayout<RegistrySettings>.size + 8 + MemoryLayout<AuditHead>.size)
        var world = World()
        let ministry = try world.party("Ministry of Transport", .department, code: "9144030071526726XG")
        let before = world.state
        _ = try world.dataset("Road sensors", by: ministry)
        #expect(before.catalog.datasets.count == 0)
        #expect(world.state.catalog.datasets.count == 1)
        #expect(before.party(ministry.id) == ministry)
    }

    /// R30: the digest fed record by record hashes the very bytes of the one-document digest, so a
    /// digest recorded before the change still compares equal.
    @Test func R30_theStreamedDigestIsTheWholeDocumentsDigest() throws {
        let registry = SyntheticRegistry.generate(datasets: 3_000, seed: 11, now: World().now, grants: 400)
        let state = registry.state()
        #expect(state.catalog.datasets.count == 3_000 && state.market.grants.count > 0 && state.rights.certificates.count > 0)
        #expect(state.digest == state.documentDigest)

        var world = World()
        #expect(world.state.digest == world.state.documentDigest)  // empty
        let ministry = try world.party("Ministry of Transport", .department, code: "9144030071526726XG")
        let registrar = try world.party("Data Registration Centre", .registrar)
        try world.run(.issueAPIKey(party: ministry.id, prefix: "abcd1234", secretHash: String(repeating: "0", count: 64), label: "ops"), by: nil)
        let source = try world.dataset("Road sensors", by: ministry)
        let derived = try world.dataset("Road sensors, hourly", by: ministry)
        try world.run(.recordDerivations(target: derived.id, sources: [DerivationSource(dataset: source.id, kind: .aggregated)]), by: ministry)
        try world.run(.flagDataset(source.id, reason: "collected without consent"), by: registrar)
        try world.run(.updateSettings(objectionPolicy: .anyone, calendar: nil, publicDataFeeCeiling: 1_500), by: nil)
        #expect(world.state.lineage.flagCascades.count == 1 && world.state.catalog.apiKeys.count == 1)
        #expect(world.state.digest == world.state.documentDigest)
        #expect(world.state.digest != state.digest)
    }
}

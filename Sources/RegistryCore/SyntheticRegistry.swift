/// A realistic registry made up from a seed: departments, enterprises, labs, registrars and regulators
/// across the 34 regions; datasets with plausible grades and personal-information levels; lineage as a
/// DAG with both long chains and wide fan-in; registrations in every state with their certificates and
/// objections. The same seed gives the same registry, record for record.
///
/// Not for production data: for demos, tests and benchmarks at national scale.
public struct SyntheticRegistry: Sendable {
    public var parties: [Party] = []
    public var datasets: [Dataset] = []
    public var derivations: [Derivation] = []
    public var registrations: [Registration] = []
    public var objections: [Objection] = []
    public var certificates: [Certificate] = []
    public var policies: [PolicyRecord] = []
    public var accessRequests: [AccessRequest] = []
    public var grants: [Grant] = []


    static let ministries = [
        "Transport", "Water Resources", "Natural Resources", "Ecology and Environment", "Housing and Urban-Rural Development",
        "Agriculture and Rural Affairs", "Commerce", "Culture and Tourism", "Health", "Emergency Management", "Education",
        "Science and Technology", "Industry and Information Technology", "Civil Affairs", "Justice", "Finance",
        "Human Resources and Social Security", "Veterans Affairs", "Public Security", "State Security", "Market Regulation",
        "Statistics", "Customs", "Taxation", "Meteorology", "Medical Products", "Forestry and Grassland", "Energy",
    ]
    static let subjects = [
        "traffic counts", "river gauge readings", "air quality", "land use parcels", "hospital admissions", "school enrolment",
        "power consumption", "freight manifests", "retail prices", "weather observations", "vessel movements", "crop yields",
        "enterprise registrations", "tax receipts", "road works", "building permits", "water quality", "bus timetables",
        "satellite imagery tiles", "speech corpus", "legal judgments", "patent filings", "medical images", "call-centre transcripts",
    ]

    /// The GB/T 4754-2017 section a synthetic ministry works in: most are public administration (S).
    static func sector(ofMinistry ministry: String) -> Sector {
        switch ministry {
        case "Transport": .transport
        case "Water Resources", "Ecology and Environment", "Forestry and Grassland": .waterEnvironmentPublicFacilities
        case "Agriculture and Rural Affairs": .agriculture
        case "Commerce": .wholesaleRetail
        case "Culture and Tourism": .cultureSportsEntertainment
        case "Health", "Medical Products": .healthSocialWork
        case "Education": .education
        case "Science and Technology", "Meteorology": .researchTechnicalServices
        case "Industry and Information Technology": .informationTechnology
        case "Finance", "Taxation": .finance
        case "Energy": .utilities
        case "Housing and Urban-Rural Development": .construction
        default: .publicAdministration
        }
    }

    /// Generates a registry of `datasetCount` datasets at `now`. Without `grants`, one grant on each dataset
    /// picked for one (about 3 % of datasets); with it, about that many grants spread over the same
    /// datasets — several labs and enterprises licensing the popular ones — as the national cold-start
    /// target (1,000,000 grants) asks.
    public static func generate(datasets datasetCount: Int, seed: UInt64, now: Timestamp, grants grantTarget: Int? = nil) -> SyntheticRegistry {
        var random = SplitMix64(state: seed)
        var registry = SyntheticRegistry()
        let regions = Regions.provincial.keys.filter(Regions.isMainland).sorted()
        let calendar = WorkingCalendar()
        let today = calendar.date(at: now)

        // Parties: every ministry, then enterprises and labs scaled with the registry, then officers.
        // Sectors (GB/T 4754-2017) are chosen from the party's number, not from `random`, so that the
        // rest of the registry is what the same seed gave before parties had sectors.
        func addParty(_ name: String, _ kind: PartyKind, code: Bool, sector: Sector? = nil) {
            let id = PartyID(rawValue: Int64(registry.parties.count + 1))
            registry.parties.append(Party(
                id: id, name: name, kind: kind, region: random.pick(regions), jurisdiction: .mainland,
                creditCode: code ? CreditCode.make(organisation: id.rawValue) : nil, sector: sector, createdAt: now.adding(seconds: -400 * 86_400)))
        }
        addParty("DataRights Operator", .operator, code: false)
        for ministry in ministries { addParty("Ministry of \(ministry)", .department, code: true, sector: Self.sector(ofMinistry: ministry)) }
        for index in 0..<max(20, datasetCount / 2_000) {
            // One enterprise in ten gave no sector (statistics count it as unclassified).
            let sector = index % 10 == 9 ? nil : Sector.allCases[(index * 7) % Sector.allCases.count]
            addParty("Enterprise \(index + 1) Co., Ltd.", .enterprise, code: true, sector: sector)
        }
        for index in 0..<max(10, datasetCount / 5_000) {
            addParty("Model Lab \(index + 1)", .modelLab, code: true, sector: index % 4 == 3 ? .researchTechnicalServices : .informationTechnology)
        }
        for index in 0..<3 { addParty("Data Registration Centre \(index + 1)", .registrar, code: false) }
        for index in 0..<2 { addParty("Data Administration Office \(index + 1)", .regulator, code: false) }
        let holders = registry.parties.filter { $0.kind.mayHoldData }
        let others = registry.parties.filter { $0.kind == .enterprise || $0.kind == .modelLab }
        let registrars = registry.parties.filter { $0.kind == .registrar }

        // Datasets.
        registry.datasets.reserveCapacity(datasetCount)
        for index in 0..<datasetCount {
            let id = DatasetID(rawValue: Int64(index + 1))
            let holder = random.pick(holders)
            let gradeRoll = random.below(1_000)
            let grade: Grade = gradeRoll < 15 ? .core : gradeRoll < 200 ? .important : .general
            let piRoll = random.below(100)
            let pi: PersonalInformationLevel = piRoll < 8 ? .sensitive : piRoll < 40 ? .personal : .none
            let sharing: SharingCategory? = holder.kind != .department ? nil : {
                switch random.below(100) {
                case 0..<50: return .unconditional
                case 50..<85: return .conditional(condition: "for the requesting department's statutory duties, with usage reported quarterly")
                default: return .notShared(legalBasis: "Data Security Law, art. 38")
                }
            }()
            let subject = random.pick(subjects)
            var fingerprint = [UInt8]()
            for _ in 0..<4 { withUnsafeBytes(of: random.next()) { fingerprint.append(contentsOf: $0) } }
            registry.datasets.append(Dataset(
                id: id, holder: holder.id, title: "\(subject.prefix(1).uppercased() + subject.dropFirst()) \(index + 1)",
                description: "Synthetic \(subject) held by \(holder.name).", grade: grade, personalInformation: pi,
                individualsCovered: pi == .none ? 0 : Int64(1 + random.below(5_000_000)), region: random.pick(regions),
                sharing: sharing, fingerprint: fingerprint.hexString, format: random.pick(["parquet", "csv", "json", "geotiff", "wav"]),
                updateCycle: random.pick(["hourly", "daily", "weekly", "monthly", "yearly"]), sizeBytes: Int64(random.below(1 << 30)),
                tags: [subject.split(separator: " ").last.map(String.init) ?? subject], createdAt: now.adding(seconds: -Int64(random.below(300)) * 86_400),
                updatedAt: now))
        }

        // Lineage. Datasets fall into domains of about 5,000 consecutive ids (a department's or a lab's
        // pipelines); about 70 % are derived, from 1–8 earlier datasets: mostly the last few in the same
        // domain (long chains), often any earlier one in the domain (wide joins), and now and then one of
        // the national base datasets, the first 0.1 % (hubs with a very wide fan-out). Nothing else links
        // domains, so a typical dataset's descendants stay within its domain while a hub's span many.
        let domainSize = 5_000
        let baseCount = min(datasetCount, max(10, datasetCount / 1_000))
        for index in baseCount..<datasetCount where random.chance(70) {
            let target = Int64(index + 1)
            let domainStart = (index / domainSize) * domainSize
            var sources = Set<Int64>()
            let count = 1 + random.below(4) + random.below(5)
            for _ in 0..<count {
                let roll = random.below(100)
                let source: Int64
                if roll < 55, index - 1 >= domainStart {
                    source = Int64(max(domainStart, index - 1 - random.below(min(index - domainStart, 20))) + 1)
                } else if roll < 92, index > domainStart {
                    source = Int64(domainStart + random.below(index - domainStart) + 1)
                } else {
                    source = Int64(1 + random.below(baseCount))
                }
                if source != target { sources.insert(source) }
            }
            for source in sources.sorted() {
                let kindRoll = random.below(100)
                let kind: TransformationKind = kindRoll < 3 ? .approvedAnonymisation
                    : kindRoll < 40 ? .derived : kindRoll < 60 ? .aggregated : kindRoll < 80 ? .joined : kindRoll < 92 ? .filtered : .sampled
                registry.derivations.append(Derivation(
                    id: Int64(registry.derivations.count + 1), source: DatasetID(rawValue: source), target: DatasetID(rawValue: target),
                    kind: kind, recordedBy: registry.datasets[index].holder,
                    approvedBy: kind == .approvedAnonymisation ? registrars[0].id : nil, recordedAt: now))
            }
        }

        // Registrations in every state, for about 40 % of the datasets that are not core.
        let evidence = [Evidence(kind: .contract, sha256: String(repeating: "c0", count: 32))]
        for dataset in registry.datasets where dataset.grade != .core && random.chance(40) {
            let id = RegistrationID(rawValue: Int64(registry.registrations.count + 1))
            let submitted = now.adding(seconds: -Int64(5 + random.below(200)) * 86_400)
            var registration = Registration(
                id: id, number: RegistryState.registrationNumber(id, on: calendar.date(at: submitted)), dataset: dataset.id,
                applicant: dataset.holder, right: random.pick([RightKind.hold, .hold, .use, .operate]), kind: .initial,
                sourceType: random.pick(SourceType.allCases.filter { $0 != .derived }), evidence: evidence, truthfulnessCommitment: true,
                applicantRole: .controller, targetCertificate: nil, transferee: nil, authorisationEndsOn: nil, newFingerprint: nil,
                statement: nil, status: .submitted, noticeEndsOn: nil, pendingObjections: 0, refusals: [], certificate: nil,
                submittedAt: submitted, updatedAt: submitted)
            let roll = random.below(100)
            switch roll {
            case 0..<50:
                let issuedOn = calendar.date(at: submitted).adding(days: 20)
                let certificateID = CertificateID(rawValue: Int64(registry.certificates.count + 1))
                registry.certificates.append(Certificate(
                    id: certificateID, number: RegistryState.certificateNumber(certificateID, on: issuedOn), registration: id,
                    dataset: dataset.id, fingerprint: dataset.fingerprint, right: registration.right, holders: [dataset.holder],
                    sourceType: registration.sourceType, issuedOn: issuedOn, expiresOn: Certificate.expiry(issuedOn: issuedOn, authorisationEndsOn: nil),
                    state: .active, supersededBy: nil, stateChangedAt: submitted))
                registration.status = .issued
                registration.noticeEndsOn = calendar.adding(workingDays: 10, to: calendar.date(at: submitted))
                registration.certificate = certificateID
            case 50..<62:
                registration.status = .publicNotice
                registration.noticeEndsOn = calendar.adding(workingDays: 10, to: today.adding(days: -random.below(7)))
            case 62..<68:
                registration.status = .suspended
                registration.noticeEndsOn = calendar.adding(workingDays: 10, to: today.adding(days: -random.below(7)))
                registration.pendingObjections = 1
                registry.objections.append(Objection(
                    id: ObjectionID(rawValue: Int64(registry.objections.count + 1)), registration: id,
                    objector: random.pick(others.filter { $0.id != dataset.holder }).id,
                    grounds: "We collected part of this data under our own contract.", lodgedAt: now.adding(seconds: -86_400),
                    ruling: nil, ruledBy: nil, rulingReason: nil, ruledAt: nil))
            case 68..<80:
                registration.status = .underReview
            case 80..<90:
                registration.status = .submitted
            default:
                registration.status = .refused
                registration.evidence = []
                registration.refusals = [Refusal(.r6, "a claim must carry source evidence: at least one document digest (contract, authorisation, review report or notarised deposit)")]
            }
            registry.registrations.append(registration)
        }
        registry.generateAccess(seed: seed, now: now, grantTarget: grantTarget)
        return registry
    }

    /// Policies on about half the datasets, and grants to labs and enterprises on a fifth of those, from
    /// a stream of their own so that the records above stay what they were for the same seed.
    mutating func generateAccess(seed: UInt64, now: Timestamp, grantTarget: Int?) {
        var random = SplitMix64(state: seed ^ 0x0ACC_E55_0F_DA7A)
        let calendar = WorkingCalendar()
        let labs = parties.filter { $0.kind == .modelLab }
        let enterprises = parties.filter { $0.kind == .enterprise }
        let kinds = Dictionary(uniqueKeysWithValues: parties.map { ($0.id, $0.kind) })
        let aiPurposes = [
            "model_training", "model_fine_tuning", "model_evaluation", "retrieval_augmentation", "scientific_research", "statistics",
            "product_development", "commercial_analytics",
        ]
        let year: Int64 = 366 * 86_400
        var candidates: [(dataset: Dataset, purposes: [String], price: Int64, barred: PartyID?)] = []
        var retention: [DatasetID: Int?] = [:]
        for dataset in datasets where dataset.grade != .core && random.chance(50) {
            let government = kinds[dataset.holder] == .department
            var rules: [PolicyRule] = []
            var purposes: [String] = []
            for purpose in aiPurposes where random.chance(35) { purposes.append(purpose) }
            if purposes.isEmpty { purposes = [random.pick(aiPurposes)] }
            var constraints = RuleConstraints(purposes: purposes, assigneeKinds: [.modelLab, .enterprise])
            if random.chance(30) { constraints.maxTokens = Int64(random.pick([10_000_000, 100_000_000, 1_000_000_000])) }
            if random.chance(20) { constraints.gradeCeiling = .important }
            if random.chance(15) { constraints.notAfter = now.adding(seconds: 2 * year) }
            rules.append(PolicyRule(id: "ai-use", kind: .permission, action: .use, constraints: constraints))
            if government || random.chance(30) {
                rules.append(PolicyRule(
                    id: "public-interest", kind: .permission, action: .use,
                    constraints: RuleConstraints(purposes: ["public_governance", "public_welfare"], assigneeKinds: [.department])))
            }
            if dataset.personalInformation != .none {
                rules.append(PolicyRule(
                    id: "no-profiling", kind: .prohibition, action: .use, constraints: RuleConstraints(purposes: ["marketing", "credit_scoring"])))
            }
            if random.chance(10), !labs.isEmpty {
                rules.append(PolicyRule(
                    id: "barred-lab", kind: .prohibition, action: .use, constraints: RuleConstraints(assigneeParties: [random.pick(labs).id])))
            }
            if random.chance(60) {
                rules.append(PolicyRule(id: "delete-after", kind: .duty, action: .use, duty: .delete, constraints: RuleConstraints(retentionDays: 180)))
            }
            let price = government ? Int64(random.below(Int(Limits.defaultPublicDataFeeCeiling) + 1)) : Int64(100 * random.below(50))
            policies.append(PolicyRecord(
                dataset: dataset.id, version: 1, policy: Policy(dataset: dataset.id, rules: rules),
                approval: random.chance(85) ? .automatic : .holder, pricePerMillionTokens: price,
                dailyTokenCap: random.chance(30) ? Int64(random.pick([50_000_000, 500_000_000])) : nil, updatedBy: dataset.holder,
                updatedAt: now.adding(seconds: -30 * 86_400)))
            retention[dataset.id] = policies.last?.policy.retentionDays

            // A grant, as an approved request, for a fifth of the datasets with a policy (sensitive data
            // is left out: its grants would need consent and impact records this generator does not make).
            if dataset.personalInformation != .sensitive && random.chance(20) {
                candidates.append((dataset, purposes, price, rules.first { $0.id == "barred-lab" }?.constraints.assigneeParties?.first))
            }
        }

        // Grants only where the registry would have made them: for a purpose the dataset's sources do
        // not rule out (R21), never on data that inherits the core grade (R13), never to a barred lab.
        var lineage = LineageGraph()
        lineage.ensureNode(Int32(datasets.count))
        for dataset in datasets {
            lineage.setOwnRestrictionsForRebuild(
                dataset.ownRestrictions, of: Int32(dataset.id.rawValue))
        }
        for record in policies {
            let contribution = record.policy.restrictionContribution()
            var own = lineage.ownRestrictions(of: Int32(record.dataset.rawValue))
            own.prohibitions = contribution.prohibitedPurposes
            own.permittedPurposes = contribution.permittedPurposes
            own.permittedRegions = contribution.permittedRegions
            lineage.setOwnRestrictionsForRebuild(own, of: Int32(record.dataset.rawValue))
        }
        for derivation in derivations {
            lineage.appendTrustedEdge(from: Int32(derivation.source.rawValue), to: Int32(derivation.target.rawValue), kind: derivation.kind)
        }
        var scratch = TraversalScratch()
        lineage.recomputeAll(scratch: &scratch)
        var eligible: [(dataset: Dataset, allowed: [String], price: Int64, barred: PartyID?)] = []
        for (dataset, purposes, price, barred) in candidates {
            let node = Int32(dataset.id.rawValue)
            guard lineage.effectiveRestrictions(of: node).grade != .core else { continue }
            let inherited = lineage.inheritedRestrictions(of: node)
            let allowed = purposes.filter { purpose in
                let bit = Purposes.vocabulary.existingBit(for: purpose) ?? PolicyRequest.unlisted
                return !inherited.prohibitions.contains(bit: bit) && (inherited.permittedPurposes.isUnrestricted || inherited.permittedPurposes.contains(bit: bit))
            }
            if !allowed.isEmpty { eligible.append((dataset, allowed, price, barred)) }
        }
        func addGrant(on dataset: Dataset, allowed: [String], price: Int64, barred: PartyID?) {
            let assignee = random.chance(70) || enterprises.isEmpty ? random.pick(labs) : random.pick(enterprises)
            guard assignee.id != dataset.holder, assignee.id != barred else { return }
            let purpose = random.pick(allowed)
            let created = now.adding(seconds: -Int64(1 + random.below(60)) * 86_400)
            let requestID = AccessRequestID(rawValue: Int64(accessRequests.count + 1))
            let grantID = GrantID(rawValue: Int64(grants.count + 1))
            let tokens = Int64(random.pick([1_000_000, 10_000_000, 100_000_000]))
            let until = created.adding(seconds: year)
            accessRequests.append(AccessRequest(
                id: requestID, number: RegistryState.number("AR", calendar.date(at: created), requestID.rawValue), dataset: dataset.id,
                requester: assignee.id, purpose: purpose, action: .use, tokens: tokens, validFrom: created, validUntil: until,
                useRegion: assignee.region, duty: nil, records: AccessRecords(riskAssessment: dataset.grade == .important ? String(repeating: "a5", count: 32) : nil),
                state: .agreed, refusals: [], replyDueOn: nil, reply: nil, repliedBy: nil, repliedAt: nil, grant: grantID, createdAt: created,
                updatedAt: created))
            grants.append(Grant(
                id: grantID, number: RegistryState.number("GR", calendar.date(at: created), grantID.rawValue), request: requestID,
                dataset: dataset.id, assignee: assignee.id, grantor: dataset.holder, purpose: purpose, action: .use, tokenQuota: tokens,
                validFrom: created, validUntil: until, useRegion: assignee.region, pricePerMillionTokens: price, free: false,
                retentionDays: retention[dataset.id] ?? nil, crossBorder: false,
                individualsCovered: dataset.personalInformation == .none ? 0 : dataset.individualsCovered, sensitive: false,
                state: random.chance(95) ? .active : .suspended, stateReason: nil, createdAt: created, updatedAt: created))
        }
        // Grants per eligible dataset: one, or with a target about `target / eligible` on average, from
        // 1 to twice that (uniformly), never more than the target in all.
        let mean = grantTarget.map { max(1, Double($0) / Double(max(1, eligible.count))) } ?? 1
        var budget = grantTarget ?? Int.max
        for (dataset, allowed, price, barred) in eligible where budget > 0 {
            let copies = grantTarget == nil ? 1 : min(budget, 1 + random.below(Int((2 * mean - 1).rounded())))
            for _ in 0..<copies {
                budget -= 1
                addGrant(on: dataset, allowed: allowed, price: price, barred: barred)
            }
        }
    }

    /// The core as a cold start builds it: every record, policies before the one lineage pass.
    public func state() -> RegistryState {
        var state = RegistryState()
        for party in parties { state.apply(.party(party)) }
        for dataset in datasets { state.apply(.dataset(dataset)) }
        for policy in policies { state.applyLoadedPolicy(policy) }
        state.loadDerivations(derivations)
        for registration in registrations { state.apply(.registration(registration)) }
        for objection in objections { state.apply(.objection(objection)) }
        for certificate in certificates { state.apply(.certificate(certificate)) }
        for request in accessRequests { state.apply(.accessRequest(request)) }
        for grant in grants { state.apply(.grant(grant)) }
        return state
    }

    /// Every record in the order a registry would have recorded them, for the audit chain.
    public var changeEntries: [ChangeEntry] {
        parties.map { ChangeEntry(.partyRegistered, .party($0)) }
            + datasets.map { ChangeEntry(.datasetRegistered, .dataset($0)) }
            + derivations.map { ChangeEntry(.derivationRecorded, .derivation($0)) }
            + registrations.map { ChangeEntry(.registration($0.status), .registration($0)) }
            + objections.map { ChangeEntry(.objectionLodged, .objection($0)) }
            + certificates.map { ChangeEntry(.certificateIssued, .certificate($0)) }
            + policies.map { ChangeEntry(.policySet, .policy($0)) }
            + accessRequests.map { ChangeEntry(.accessRequestApproved, .accessRequest($0)) }
            + grants.map { ChangeEntry(.grant($0.state), .grant($0)) }
    }
}

/// SplitMix64: a small, fast generator that gives the same numbers on every platform, so that a
/// generated registry, a property test or a benchmark sample can be replayed from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound` (0 when `bound` is not positive).
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
    /// True `percent` times in a hundred.
    public mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

import RegistryCore
import Testing

/// Dataset policies (R20, R21, R24): the compiled evaluator against a plain reference on thousands of
/// random policies, the ODRL round trip, refusals that name their field, and the rules' edges one by one.
@Suite struct PolicyTests {

    /// The semantics of ``Policy`` read literally: strings, optional arrays and plain loops, nothing compiled.
    struct ReferencePolicyEvaluator {
        struct Request {
            var assignee: PartyID
            var kind: PartyKind
            var action: PolicyAction
            var purpose: String
            var region: String
            var at: Timestamp
            var tokens: Int64
            var grade: Grade

            var compiled: PolicyRequest {
                PolicyRequest(
                    assignee: assignee, assigneeKind: kind, action: action, purpose: purpose, region: region, at: at, tokens: tokens,
                    effectiveGrade: grade)
            }
        }

        static func evaluate(_ policy: Policy, _ request: Request) -> PolicyVerdict {
            for (index, rule) in policy.rules.enumerated() where rule.kind == .prohibition && matches(rule, request) {
                return .deny(rule: index)
            }
            for (index, rule) in policy.rules.enumerated() where rule.kind == .permission && matches(rule, request) {
                return .allow(rule: index)
            }
            return .notPermitted
        }

        static func matches(_ rule: PolicyRule, _ request: Request) -> Bool {
            let c = rule.constraints
            if rule.kind == .duty || rule.action != request.action { return false }
            if let purposes = c.purposes, !purposes.contains(request.purpose) { return false }
            if let parties = c.assigneeParties, !parties.contains(request.assignee) { return false }
            if let kinds = c.assigneeKinds, !kinds.contains(request.kind) { return false }
            if let regions = c.regions, !regions.contains(request.region) { return false }
            if let notBefore = c.notBefore, request.at < notBefore { return false }
            if let notAfter = c.notAfter, request.at >= notAfter { return false }
            if let maxTokens = c.maxTokens, request.tokens > maxTokens { return false }
            if let ceiling = c.gradeCeiling, request.grade > ceiling { return false }
            return true
        }
    }

    // MARK: Random policies from small pools, so that rules and requests meet often

    static let hour: Int64 = 3_600_000_000
    /// 2027-01-15T08:00:00Z.
    static let epoch = Timestamp(rawValue: 1_800_000_000_000_000)
    static let purposePool = Array(Purposes.standard.prefix(5))
    static let regionPool = ["CN-BJ", "CN-SH", "CN-GD", "CN-ZJ"]
    static let tokenPool: [Int64] = [100, 1_000, 10_000]
    static let idStems = ["r", "rule.", "p:", "x-", "a_b."]

    static func someOf<T>(_ pool: [T], _ random: inout SplitMix64) -> [T] {
        Array(pool.shuffled(using: &random).prefix(Int.random(in: 1...min(3, pool.count), using: &random)))
    }

    static func maybe(_ random: inout SplitMix64, _ percent: Int = 35) -> Bool { Int.random(in: 0..<100, using: &random) < percent }

    static func randomPolicy(_ random: inout SplitMix64, dataset: DatasetID = DatasetID(rawValue: 7)) -> Policy {
        var rules: [PolicyRule] = []
        for index in 0..<Int.random(in: 0...12, using: &random) {
            let roll = Int.random(in: 0..<100, using: &random)
            let kind: RuleKind = roll < 55 ? .permission : roll < 82 ? .prohibition : .duty
            let action: PolicyAction = maybe(&random, 60) ? .use : Bool.random(using: &random) ? .derive : .distribute
            var c = RuleConstraints()
            // Prohibitions carry more constraints than permissions, so that requests get past them often enough.
            let chance = kind == .prohibition ? 45 : 30
            if maybe(&random, chance) { c.purposes = someOf(purposePool, &random) }
            if maybe(&random, chance) { c.assigneeParties = someOf((1...6).map { PartyID(rawValue: $0) }, &random) }
            if maybe(&random, chance) { c.assigneeKinds = someOf(PartyKind.allCases, &random) }
            if maybe(&random, chance) { c.regions = someOf(regionPool, &random) }
            if maybe(&random, chance) {
                // A start, an end, or both, on whole hours around the epoch.
                let first = Int64.random(in: -3...3, using: &random)
                let second = Int64.random(in: -3...3, using: &random)
                let at = { (hours: Int64) in Timestamp(rawValue: epoch.rawValue + hours * hour) }
                switch Int.random(in: 0..<3, using: &random) {
                case 0: c.notBefore = at(first)
                case 1: c.notAfter = at(first)
                default:
                    c.notBefore = at(min(first, second))
                    if first != second { c.notAfter = at(max(first, second)) }
                }
            }
            if maybe(&random, chance) { c.maxTokens = tokenPool.randomElement(using: &random)! }
            if maybe(&random, chance) { c.gradeCeiling = Grade.allCases.randomElement(using: &random)! }
            var duty: DutyAction?
            if kind == .duty {
                duty = DutyAction.allCases.randomElement(using: &random)!
                if duty == .delete && Bool.random(using: &random) { c.retentionDays = Int.random(in: 1...3_650, using: &random) }
            }
            rules.append(PolicyRule(id: "\(idStems.randomElement(using: &random)!)\(index)", kind: kind, action: action, duty: duty, constraints: c))
        }
        return Policy(dataset: dataset, rules: rules)
    }

    static func randomRequest(_ random: inout SplitMix64) -> ReferencePolicyEvaluator.Request {
        ReferencePolicyEvaluator.Request(
            assignee: PartyID(rawValue: Int64.random(in: 1...7, using: &random)),
            kind: PartyKind.allCases.randomElement(using: &random)!,
            action: maybe(&random, 60) ? .use : Bool.random(using: &random) ? .derive : .distribute,
            // Now and then a purpose or region outside the vocabularies, which only unconstrained rules admit.
            purpose: maybe(&random, 5) ? "astrology" : (purposePool + ["marketing"]).randomElement(using: &random)!,
            region: maybe(&random, 5) ? "US" : (regionPool + ["CN-SC"]).randomElement(using: &random)!,
            // On the hour half the time, so that window edges are hit exactly.
            at: Timestamp(
                rawValue: epoch.rawValue + Int64.random(in: -4...4, using: &random) * hour
                    + (Bool.random(using: &random) ? 0 : Int64.random(in: -1...1, using: &random))),
            tokens: [50, 100, 101, 1_000, 5_000, 10_000, 20_000].randomElement(using: &random)!,
            grade: Grade.allCases.randomElement(using: &random)!)
    }

    // MARK: 1. Differential

    /// R20, R24: 5,000 random policies × 24 random requests decide the same compiled as by the reference;
    /// each kind of outcome occurs thousands of times, so the agreement means something.
    @Test func R20_R24_compiledEvaluationAgreesWithTheReferenceOnRandomPolicies() {
        var allowed = 0
        var denied = 0
        var notPermitted = 0
        for seed in UInt64(0)..<5_000 {
            var random = SplitMix64(state: seed)
            let policy = Self.randomPolicy(&random)
            #expect(policy.validate().isEmpty, "seed \(seed): generated an invalid policy: \(policy.validate())")
            let compiled = CompiledPolicy(policy)
            let contribution = compiled.restrictionContribution()
            let expected = policy.restrictionContribution()
            #expect(
                contribution.prohibitedPurposes == expected.prohibitedPurposes && contribution.permittedPurposes == expected.permittedPurposes
                    && contribution.permittedRegions == expected.permittedRegions, "seed \(seed)")
            for _ in 0..<24 {
                let request = Self.randomRequest(&random)
                let reference = ReferencePolicyEvaluator.evaluate(policy, request)
                let verdict = compiled.evaluate(request.compiled)
                guard verdict == reference else {
                    Issue.record("seed \(seed): compiled \(verdict), reference \(reference) for \(request) under \(policy)")
                    return
                }
                switch verdict {
                case .allow: allowed += 1
                case .deny: denied += 1
                case .notPermitted: notPermitted += 1
                }
            }
        }
        // 120,000 decisions; these seeds give 30,841 allowed, 9,600 denied, 79,559 not permitted.
        #expect(allowed >= 5_000, "allowed \(allowed)")
        #expect(denied >= 5_000, "denied \(denied)")
        #expect(notPermitted >= 5_000, "not permitted \(notPermitted)")
    }

    // MARK: 2. ODRL round trip

    /// R20: export then import gives the same policy for hundreds of random policies (across datasets, rule
    /// orders and every constraint), and the imported policy decides random requests exactly as the original.
    @Test func R20_ODRLRoundTripPreservesThePolicyAndItsDecisions() throws {
        for seed in UInt64(100_000)..<100_600 {
            var random = SplitMix64(state: seed)
            let dataset = DatasetID(rawValue: Int64.random(in: 1...1_000_000, using: &random))
            let policy = Self.randomPolicy(&random, dataset: dataset)
            let text = ODRL.export(policy)
            let imported: Policy
            do {
                imported = try ODRL.importPolicy(text, dataset: dataset)
            } catch {
                Issue.record("seed \(seed): \(error)\n\(text)")
                return
            }
            guard imported == policy, ODRL.export(imported) == text else {
                Issue.record("seed \(seed): the round trip changed the policy\n\(text)\nimported as \(imported)")
                return
            }
            let original = CompiledPolicy(policy)
            let reread = CompiledPolicy(imported)
            for _ in 0..<20 {
                let request = Self.randomRequest(&random).compiled
                #expect(original.evaluate(request) == reread.evaluate(request), "seed \(seed): \(request)")
            }
        }
    }

    /// R20: the shape of an export, pinned: an ODRL Set with prohibit conflicts, typed dates and durations,
    /// party and party-kind IRIs, and `dr:` terms (with their context) only where they are needed.
    @Test func R20_exportWritesTheDocumentedODRLShape() {
        let policy = Policy(
            dataset: DatasetID(rawValue: 42),
            rules: [
                PolicyRule(
                    id: "train", kind: .permission, action: .use,
                    constraints: RuleConstraints(
                        purposes: ["model_training", "model_evaluation"], assigneeKinds: [.modelLab], regions: ["CN-BJ"],
                        notBefore: Timestamp(rawValue: 1_767_225_600_000_000), notAfter: Timestamp(rawValue: 1_798_761_600_000_000),
                        maxTokens: 5_000_000)),
                PolicyRule(id: "no-marketing", kind: .prohibition, action: .use, constraints: RuleConstraints(purposes: ["marketing"])),
                PolicyRule(id: "purge", kind: .duty, action: .use, duty: .delete, constraints: RuleConstraints(retentionDays: 30)),
            ])
        #expect(
            ODRL.export(policy) == """
                {
                  "@context": "http://www.w3.org/ns/odrl.jsonld",
                  "@type": "Set",
                  "uid": "https://datarights.example/policies/dataset/42",
                  "target": "https://datarights.example/datasets/42",
                  "conflict": "prohibit",
                  "permission": [
                    {
                      "uid": "https://datarights.example/policies/dataset/42/rules/train",
                      "action": "use",
                      "assignee": [
                        {
                          "@type": "PartyCollection",
                          "uid": "https://datarights.example/party-kinds/model_lab"
                        }
                      ],
                      "constraint": [
                        {
                          "leftOperand": "purpose",
                          "operator": "isAnyOf",
                          "rightOperand": ["model_training", "model_evaluation"]
                        },
                        {
                          "leftOperand": "spatial",
                          "operator": "isAnyOf",
                          "rightOperand": ["CN-BJ"]
                        },
                        {
                          "leftOperand": "dateTime",
                          "operator": "gteq",
                          "rightOperand": {
                            "@value": "2026-01-01T00:00:00.000000Z",
                            "@type": "xsd:dateTime"
                          }
                        },
                        {
                          "leftOperand": "dateTime",
                          "operator": "lt",
                          "rightOperand": {
                            "@value": "2027-01-01T00:00:00.000000Z",
                            "@type": "xsd:dateTime"
                          }
                        },
                        {
                          "leftOperand": "count",
                          "operator": "lteq",
                          "rightOperand": 5000000
                        }
                      ]
                    }
                  ],
                  "prohibition": [
                    {
                      "uid": "https://datarights.example/policies/dataset/42/rules/no-marketing",
                      "action": "use",
                      "constraint": [
                        {
                          "leftOperand": "purpose",
                          "operator": "isAnyOf",
                          "rightOperand": ["marketing"]
                        }
                      ]
                    }
                  ],
                  "obligation": [
                    {
                      "uid": "https://datarights.example/policies/dataset/42/rules/purge",
                      "action": "delete",
                      "constraint": [
                        {
                          "leftOperand": "elapsedTime",
                          "operator": "lteq",
                          "rightOperand": {
                            "@value": "P30D",
                            "@type": "xsd:duration"
                          }
                        }
                      ]
                    }
                  ]
                }

                """)
    }

    /// R20: import reads the usual ODRL variants — `odrl:` prefixes and full IRIs, single objects for lists,
    /// `@list`, `@id`, `and` groups, `eq`, `lteq`/`gt` on dateTime, untyped dates with a zone offset,
    /// parties with their kinds as `dr:partyKind` — into exactly the policy they mean.
    @Test func R20_importAcceptsCommonODRLVariants() throws {
        let document = """
            {
              "@context": ["http://www.w3.org/ns/odrl.jsonld", {"dr": "https://datarights.example/ns#"}],
              "@type": "odrl:Set",
              "uid": "urn:example:policy:1",
              "odrl:permission": {
                "@type": "Permission",
                "uid": "urn:example:rule:train",
                "target": {"@id": "https://datarights.example/datasets/9"},
                "action": {"@id": "http://www.w3.org/ns/odrl/2/use"},
                "assignee": ["https://datarights.example/parties/3", {"@type": "Party", "@id": "https://datarights.example/parties/4"}],
                "constraint": [
                  {"and": {"@list": [
                    {"leftOperand": "odrl:purpose", "operator": "odrl:eq", "rightOperand": "scientific_research"},
                    {"and": [{"leftOperand": "dr:partyKind", "operator": "isAnyOf", "rightOperand": "department"}]}
                  ]}},
                  {"leftOperand": "dateTime", "operator": "gt", "rightOperand": "2026-01-01T08:00:00+08:00"},
                  {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": {"@value": "2026-12-31T23:59:59.5Z", "@type": "http://www.w3.org/2001/XMLSchema#dateTime"}},
                  {"leftOperand": "count", "operator": "lt", "rightOperand": "1001"},
                  {"leftOperand": "https://datarights.example/ns#gradeCeiling", "operator": "lteq", "rightOperand": "important"}
                ]
              },
              "obligation": [{"uid": "urn:example:rule:report", "action": "dr:reportUsage", "dr:onAction": "derive"}]
            }
            """
        let policy = try ODRL.importPolicy(document, dataset: DatasetID(rawValue: 9))
        let expected = Policy(
            dataset: DatasetID(rawValue: 9),
            rules: [
                PolicyRule(
                    id: "urn:example:rule:train", kind: .permission, action: .use,
                    constraints: RuleConstraints(
                        purposes: ["scientific_research"], assigneeParties: [PartyID(rawValue: 3), PartyID(rawValue: 4)], assigneeKinds: [.department],
                        notBefore: Timestamp(rawValue: 1_767_225_600_000_001), notAfter: Timestamp(rawValue: 1_798_761_599_500_001),
                        maxTokens: 1_000, gradeCeiling: .important)),
                PolicyRule(id: "urn:example:rule:report", kind: .duty, action: .derive, duty: .reportUsage),
            ])
        #expect(policy == expected)
    }

    /// R20: rules out of kind order keep their order (and so the rule a verdict names) through `dr:position`.
    @Test func R20_R24_interleavedRulesKeepTheirIndexThroughODRL() throws {
        let policy = Policy(
            dataset: DatasetID(rawValue: 1),
            rules: [
                PolicyRule(id: "deny-ads", kind: .prohibition, action: .use, constraints: RuleConstraints(purposes: ["marketing"])),
                PolicyRule(id: "attribute", kind: .duty, action: .use, duty: .attribute),
                PolicyRule(id: "all", kind: .permission, action: .use),
            ])
        let text = ODRL.export(policy)
        #expect(text.contains("\"dr:position\": 2"))
        #expect(text.contains("{\n      \"dr\": \"https://datarights.example/ns#\"\n    }"))
        let imported = try ODRL.importPolicy(text, dataset: DatasetID(rawValue: 1))
        #expect(imported == policy)
        #expect(CompiledPolicy(imported).evaluate(Self.request(purpose: "statistics")) == .allow(rule: 2))
    }

    // MARK: 3. Import refusals

    static func document(permission constraints: String, extra: String = "") -> String {
        """
        {
          "@context": "http://www.w3.org/ns/odrl.jsonld",
          "@type": "Set",
          "permission": [{
            "uid": "https://datarights.example/policies/dataset/5/rules/p1",
            "action": "use",\(extra)
            "constraint": [\(constraints)]
          }]
        }
        """
    }

    static let trainingOnly = #"{"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["model_training"]}"#

    /// Documents import must refuse: the document, the field the problem names, and words of its detail.
    static let refusals: [(document: String, field: String, detail: String)] = [
        (document(permission: trainingOnly + #", {"leftOperand": "spatial", "operator": "neq", "rightOperand": "CN-BJ"}"#),
         "permission[0].constraint[1].operator", "unsupported operator"),
        (document(permission: #"{"leftOperand": "industry", "operator": "eq", "rightOperand": "finance"}"#),
         "permission[0].constraint[0].leftOperand", "unsupported leftOperand"),
        (document(permission: #"{"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["model_training", "astrology"]}"#),
         "permission[0].constraint[0].rightOperand[1]", "unknown purpose \"astrology\"; allowed: public_governance"),
        (document(permission: #"{"leftOperand": "spatial", "operator": "isAnyOf", "rightOperand": ["CN-BJ", "US"]}"#),
         "permission[0].constraint[0].rightOperand[1]", "only the provincial codes"),
        (document(permission: #"{"or": [\#(trainingOnly)]}"#), "permission[0].constraint[0].or", "only and"),
        (document(permission: trainingOnly + ", " + trainingOnly), "permission[0].constraint[1].leftOperand", "already constrained"),
        (document(permission: #"{"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": []}"#),
         "permission[0].constraint[0].rightOperand", "empty list"),
        (document(permission: trainingOnly, extra: #" "duty": [{"action": "delete"}],"#), "permission[0].duty", "cannot be represented"),
        (document(permission: trainingOnly, extra: #" "assignee": ["https://datarights.example/parties/1", "https://datarights.example/party-kinds/enterprise"],"#),
         "permission[0].assignee", "mixes parties and party collections"),
        (document(permission: #"{"leftOperand": "dateTime", "operator": "gteq", "rightOperand": "2027-01-01T00:00:00Z"}, {"leftOperand": "dateTime", "operator": "lt", "rightOperand": "2026-01-01T00:00:00Z"}"#),
         "permission[0].constraint[1].rightOperand", "the window is empty"),
        (document(permission: #"{"leftOperand": "dateTime", "operator": "gteq", "rightOperand": "2027-01-01 00:00"}"#),
         "permission[0].constraint[0].rightOperand", "ISO 8601"),
        (document(permission: #"{"leftOperand": "count", "operator": "lteq", "rightOperand": 1.5}"#),
         "permission[0].constraint[0].rightOperand", "whole number"),
        (document(permission: trainingOnly).replacingOnce("\"@type\": \"Set\",", with: "\"@type\": \"Set\", \"target\": \"https://datarights.example/datasets/6\","),
         "target", "this policy is for https://datarights.example/datasets/5"),
        (document(permission: trainingOnly).replacingOnce("\"action\": \"use\"", with: "\"action\": \"sell\""), "permission[0].action", "unsupported action"),
        (document(permission: trainingOnly).replacingOnce("\"constraint\": [", with: "\"constraint\" ["), "", "not valid JSON: expected ':' (line 7, column"),
        ("{\"a\": 1, \"a\": 2}", "", "duplicate key"),
        (String(repeating: "[", count: 40) + String(repeating: "]", count: 40), "", "nested deeper than 32"),
        (#"{"@type": "Set", "permission": []}"#, "@context", "needs"),
    ]

    /// R20: whatever import cannot represent it refuses, naming the JSON path of the offending part, and it
    /// never drops a constraint to make a document fit.
    @Test(arguments: PolicyTests.refusals)
    func R20_importRefusalsNameTheJSONPath(document: String, field: String, detail: String) {
        do {
            let policy = try ODRL.importPolicy(document, dataset: DatasetID(rawValue: 5))
            Issue.record("imported \(policy) from a document that should be refused at \(field)")
        } catch {
            #expect(error.field == field, "\(error)")
            #expect(error.detail.contains(detail), "\(error)")
        }
    }

    /// R20: two rules whose uids end in the same id are refused at the second; so is a document over 1 MiB.
    @Test func R20_importRefusesDuplicateRuleIDsAndOversizedDocuments() {
        let twice = """
            {"@context": "http://www.w3.org/ns/odrl.jsonld", "@type": "Set",
             "permission": {"uid": "https://example.org/rules/same", "action": "use"},
             "prohibition": [{"uid": "https://datarights.example/policies/dataset/5/rules/same", "action": "use"}]}
            """
        #expect(throws: PolicyProblem(field: "prohibition[0].uid", detail: "rule id \"same\" is already used by permission")) {
            try ODRL.importPolicy(twice, dataset: DatasetID(rawValue: 5))
        }
        let huge = "[" + String(repeating: "0,", count: ODRL.maxDocumentBytes / 2) + "0]"
        #expect(throws: PolicyProblem.self) { try ODRL.importPolicy(huge, dataset: DatasetID(rawValue: 5)) }
    }

    // MARK: 4. Validation refusals

    /// R20: validation names the field of every problem, in a JSON-pointer-like path.
    @Test func R20_validationRefusalsNameTheField() {
        let t = Timestamp(rawValue: 1_800_000_000_000_000)
        let policy = Policy(
            dataset: DatasetID(rawValue: 1),
            rules: [
                PolicyRule(id: "", kind: .permission, action: .use),
                PolicyRule(id: "a", kind: .permission, action: .use, constraints: RuleConstraints(purposes: ["model_training", "astrology"])),
                PolicyRule(id: "a", kind: .prohibition, action: .use, constraints: RuleConstraints(regions: ["US"])),
                PolicyRule(id: "b c", kind: .permission, action: .use, constraints: RuleConstraints(assigneeKinds: [])),
                PolicyRule(id: "d", kind: .permission, action: .use, constraints: RuleConstraints(notBefore: t, notAfter: t, maxTokens: 0)),
                PolicyRule(id: "e", kind: .duty, action: .use),
                PolicyRule(id: "f", kind: .permission, action: .use, duty: .delete, constraints: RuleConstraints(retentionDays: 30)),
                PolicyRule(id: "g", kind: .duty, action: .use, duty: .delete, constraints: RuleConstraints(retentionDays: 40_000)),
                PolicyRule(id: String(repeating: "x", count: 101), kind: .permission, action: .use),
                PolicyRule(id: "h", kind: .permission, action: .use, constraints: RuleConstraints(assigneeParties: (1...65).map { PartyID(rawValue: $0) })),
                PolicyRule(id: "i", kind: .permission, action: .use, constraints: RuleConstraints(purposes: ["statistics", "statistics"])),
            ])
        let problems = policy.validate()
        let fields = problems.map(\.field)
        for expected in [
            "rules[0].id", "rules[1].constraints.purposes[1]", "rules[2].id", "rules[2].constraints.regions[0]",
            "rules[3].id", "rules[3].constraints.assigneeKinds", "rules[4].constraints.notAfter", "rules[4].constraints.maxTokens",
            "rules[5].duty", "rules[6].duty", "rules[6].constraints.retentionDays", "rules[7].constraints.retentionDays",
            "rules[8].id", "rules[9].constraints.assigneeParties", "rules[10].constraints.purposes[1]",
        ] {
            #expect(fields.contains(expected), "no problem at \(expected): \(problems)")
        }
        #expect(problems.count == 15, "\(problems)")
        #expect(problems.first { $0.field == "rules[1].constraints.purposes[1]" }?.detail.contains("allowed: public_governance, public_welfare") == true)
        #expect(problems.first { $0.field == "rules[3].constraints.assigneeKinds" }?.detail.contains("use null") == true)

        let crowded = Policy(dataset: DatasetID(rawValue: 1), rules: (0...64).map { PolicyRule(id: "r\($0)", kind: .permission, action: .use) })
        #expect(crowded.validate() == [PolicyProblem(field: "rules", detail: "at most 64 rules are allowed, found 65")])
    }

    // MARK: 5. The rules of decision

    static let dataset = DatasetID(rawValue: 1)

    static func request(
        party: Int64 = 1, kind: PartyKind = .modelLab, action: PolicyAction = .use, purpose: String = "model_training",
        region: String = "CN-BJ", at: Timestamp = epoch, tokens: Int64 = 1_000, grade: Grade = .general
    ) -> PolicyRequest {
        PolicyRequest(
            assignee: PartyID(rawValue: party), assigneeKind: kind, action: action, purpose: purpose, region: region, at: at, tokens: tokens,
            effectiveGrade: grade)
    }

    static func compile(_ rules: PolicyRule...) -> CompiledPolicy { CompiledPolicy(Policy(dataset: dataset, rules: rules)) }

    /// R20: what is not permitted is prohibited — no rules, only prohibitions, only duties, or permissions for
    /// another action all leave the request not permitted.
    @Test func R20_withoutAMatchingPermissionNothingIsPermitted() {
        #expect(Self.compile().evaluate(Self.request()) == .notPermitted)
        #expect(Self.compile(PolicyRule(id: "p", kind: .prohibition, action: .use, constraints: RuleConstraints(purposes: ["marketing"])))
            .evaluate(Self.request()) == .notPermitted)
        #expect(Self.compile(PolicyRule(id: "d", kind: .duty, action: .use, duty: .attribute)).evaluate(Self.request()) == .notPermitted)
        #expect(Self.compile(PolicyRule(id: "p", kind: .permission, action: .derive)).evaluate(Self.request()) == .notPermitted)
        #expect(Self.compile(PolicyRule(id: "p", kind: .permission, action: .derive)).evaluate(Self.request(action: .derive)) == .allow(rule: 0))
    }

    /// R20, R24: a matching prohibition wins over any permission, wherever it stands, and the verdict names the
    /// first matching rule of the deciding kind by its index.
    @Test func R20_R24_aProhibitionBeatsAPermissionAndTheVerdictNamesTheRule() {
        let policy = Self.compile(
            PolicyRule(id: "everyone", kind: .permission, action: .use),
            PolicyRule(id: "labs", kind: .permission, action: .use, constraints: RuleConstraints(assigneeKinds: [.modelLab])),
            PolicyRule(id: "no-party-9", kind: .prohibition, action: .use, constraints: RuleConstraints(assigneeParties: [PartyID(rawValue: 9)])),
            PolicyRule(id: "no-scoring", kind: .prohibition, action: .use, constraints: RuleConstraints(purposes: ["credit_scoring"])))
        #expect(policy.evaluate(Self.request()) == .allow(rule: 0))
        #expect(policy.evaluate(Self.request(party: 9)) == .deny(rule: 2))
        #expect(policy.evaluate(Self.request(party: 9, purpose: "credit_scoring")) == .deny(rule: 2))
        #expect(policy.evaluate(Self.request(purpose: "credit_scoring")) == .deny(rule: 3))
        #expect(policy.evaluate(Self.request(purpose: "credit_scoring")).isAllowed == false)
    }

    /// R20: notBefore is inclusive and notAfter exclusive, to the microsecond.
    @Test func R20_theTimeWindowIncludesItsStartAndExcludesItsEnd() {
        let start = Self.epoch
        let end = Timestamp(rawValue: start.rawValue + Self.hour)
        let policy = Self.compile(PolicyRule(id: "window", kind: .permission, action: .use, constraints: RuleConstraints(notBefore: start, notAfter: end)))
        #expect(policy.evaluate(Self.request(at: Timestamp(rawValue: start.rawValue - 1))) == .notPermitted)
        #expect(policy.evaluate(Self.request(at: start)) == .allow(rule: 0))
        #expect(policy.evaluate(Self.request(at: Timestamp(rawValue: end.rawValue - 1))) == .allow(rule: 0))
        #expect(policy.evaluate(Self.request(at: end)) == .notPermitted)
        // An open end admits even the last representable instant.
        let open = Self.compile(PolicyRule(id: "from", kind: .permission, action: .use, constraints: RuleConstraints(notBefore: start)))
        #expect(open.evaluate(Self.request(at: Timestamp(rawValue: .max))) == .allow(rule: 0))
    }

    /// R20: a grade ceiling stops a rule once the dataset's effective grade rises above it; tokens are capped
    /// inclusively.
    @Test func R20_aGradeCeilingAndATokenCapBoundTheRule() {
        let policy = Self.compile(
            PolicyRule(id: "general-only", kind: .permission, action: .use, constraints: RuleConstraints(maxTokens: 1_000, gradeCeiling: .general)),
            PolicyRule(id: "no-core", kind: .prohibition, action: .use, constraints: RuleConstraints(gradeCeiling: .important)))
        #expect(policy.evaluate(Self.request(tokens: 1_000, grade: .general)) == .deny(rule: 1))
        let permissive = Self.compile(
            PolicyRule(id: "general-only", kind: .permission, action: .use, constraints: RuleConstraints(maxTokens: 1_000, gradeCeiling: .general)))
        #expect(permissive.evaluate(Self.request(tokens: 1_000, grade: .general)) == .allow(rule: 0))
        #expect(permissive.evaluate(Self.request(tokens: 1_001, grade: .general)) == .notPermitted)
        #expect(permissive.evaluate(Self.request(tokens: 10, grade: .important)) == .notPermitted)
        #expect(policy.evaluate(Self.request(grade: .core)) == .notPermitted, "neither rule applies to core data")
    }

    /// R20: a purpose or region outside the vocabularies satisfies only rules that do not constrain it.
    @Test func R20_unlistedPurposesAndRegionsPassOnlyUnconstrainedRules() {
        let policy = Self.compile(
            PolicyRule(id: "beijing", kind: .permission, action: .use, constraints: RuleConstraints(regions: ["CN-BJ"])),
            PolicyRule(id: "training", kind: .permission, action: .use, constraints: RuleConstraints(purposes: ["model_training"])))
        #expect(policy.evaluate(Self.request(purpose: "astrology", region: "CN-BJ")) == .allow(rule: 0))
        #expect(policy.evaluate(Self.request(purpose: "model_training", region: "US")) == .allow(rule: 1))
        #expect(policy.evaluate(Self.request(purpose: "astrology", region: "US")) == .notPermitted)
        #expect(Self.request(region: "US").regionBit == PolicyRequest.unlisted)
        #expect(Purposes.standard.count < PolicyRequest.unlisted && RegionVocabulary.standard.names.count < PolicyRequest.unlisted)
        // Out-of-range bits given directly count as unlisted rather than trapping.
        var odd = Self.request()
        odd.purposeBit = -5
        odd.regionBit = 200
        #expect(policy.evaluate(odd) == .notPermitted)
    }

    /// R20: assignee parties are checked by linear scan in short lists and by binary search in long ones.
    @Test func R20_assigneeListsOfEveryLengthMatchExactlyTheirParties() {
        for count in [1, 2, 8, 9, 33, 64] {
            let parties = (0..<count).map { PartyID(rawValue: Int64(1_000 - $0 * 7)) }
            let policy = Self.compile(PolicyRule(id: "some", kind: .permission, action: .use, constraints: RuleConstraints(assigneeParties: parties)))
            for candidate in Int64(500)...1_001 {
                let listed = parties.contains(PartyID(rawValue: candidate))
                #expect(policy.evaluate(Self.request(party: candidate)) == (listed ? .allow(rule: 0) : .notPermitted), "\(count) parties, \(candidate)")
            }
        }
    }

    /// R20: the shortest retention among delete duties is the policy's; other duties do not count.
    @Test func R20_retentionIsTheShortestDeleteDuty() {
        var policy = Policy(dataset: Self.dataset)
        #expect(policy.retentionDays == nil)
        policy.rules = [
            PolicyRule(id: "a", kind: .duty, action: .use, duty: .delete, constraints: RuleConstraints(retentionDays: 90)),
            PolicyRule(id: "b", kind: .duty, action: .use, duty: .attribute),
            PolicyRule(id: "c", kind: .duty, action: .derive, duty: .delete, constraints: RuleConstraints(retentionDays: 30)),
            PolicyRule(id: "d", kind: .duty, action: .use, duty: .delete),
        ]
        #expect(policy.retentionDays == 30)
        #expect(CompiledPolicy(policy).retentionDays == 30)
    }

    /// R24: a million decisions in a loop over a full policy: the evaluator allocates nothing (plain data,
    /// no strings, arrays or existentials on its path), so this finishes quickly even in a debug build.
    @Test func R24_aMillionDecisionsRunInTheCompiledForm() {
        var random = SplitMix64(state: 42)
        var rules: [PolicyRule] = []
        while rules.count < 40 { rules += Self.randomPolicy(&random).rules }
        let renamed = rules.prefix(40).enumerated().map { index, rule in
            var rule = rule
            rule.id = "rule\(index)"
            return rule
        }
        let policy = CompiledPolicy(Policy(dataset: Self.dataset, rules: renamed))
        let requests = (0..<64).map { _ in Self.randomRequest(&random).compiled }
        var allowed = 0
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for index in 0..<1_000_000 where policy.evaluate(requests[index & 63]).isAllowed {
                allowed += 1
            }
        }
        #expect(allowed > 0 && allowed < 1_000_000)
        // About 0.25 s in a debug build; the bound leaves room for a busy machine.
        #expect(elapsed < .seconds(10), "a million decisions took \(elapsed)")
    }

    // MARK: 6. Lineage contribution (R21)

    /// R21: unconditional purpose bans on use are inherited; bans bound to a party, a window or another action
    /// are not; an unconstrained ban on use bans every purpose.
    @Test func R21_onlyUnconditionalPurposeBansAreInherited() {
        let bit = { (name: String) in NameSet(bits: 1 << UInt64(Purposes.vocabulary.existingBit(for: name)!)) }
        let policy = Policy(
            dataset: Self.dataset,
            rules: [
                PolicyRule(id: "no-ads", kind: .prohibition, action: .use, constraints: RuleConstraints(purposes: ["marketing"])),
                PolicyRule(id: "no-scoring-for-9", kind: .prohibition, action: .use,
                    constraints: RuleConstraints(purposes: ["credit_scoring"], assigneeParties: [PartyID(rawValue: 9)])),
                PolicyRule(id: "no-late-stats", kind: .prohibition, action: .use,
                    constraints: RuleConstraints(purposes: ["statistics"], notBefore: Self.epoch)),
                PolicyRule(id: "no-derived-training", kind: .prohibition, action: .derive, constraints: RuleConstraints(purposes: ["model_training"])),
                PolicyRule(id: "no-underwriting", kind: .prohibition, action: .use, constraints: RuleConstraints(purposes: ["insurance_underwriting"])),
            ])
        let contribution = policy.restrictionContribution()
        #expect(contribution.prohibitedPurposes == bit("marketing").union(bit("insurance_underwriting")))
        #expect(Purposes.vocabulary.names(in: contribution.prohibitedPurposes) == ["marketing", "insurance_underwriting"])
        #expect(contribution.permittedPurposes == .none && contribution.permittedRegions == .none, "no use permission: nothing permitted")

        let banAll = Policy(dataset: Self.dataset, rules: [PolicyRule(id: "none", kind: .prohibition, action: .use)])
        #expect(banAll.restrictionContribution().prohibitedPurposes == .all)
    }

    /// R21: permitted purposes and regions are the union over use permissions, unrestricted as soon as one
    /// permission leaves them open; the compiled policy reports the same, and it composes with inheritance.
    @Test func R21_permittedPurposesAndRegionsUniteOverUsePermissions() {
        let narrow = Policy(
            dataset: Self.dataset,
            rules: [
                PolicyRule(id: "train-bj", kind: .permission, action: .use,
                    constraints: RuleConstraints(purposes: ["model_training"], assigneeKinds: [.modelLab], regions: ["CN-BJ"])),
                PolicyRule(id: "stats-sh", kind: .permission, action: .use,
                    constraints: RuleConstraints(purposes: ["statistics", "model_training"], regions: ["CN-SH"], maxTokens: 10)),
                PolicyRule(id: "derive-anything", kind: .permission, action: .derive),
            ])
        let contribution = narrow.restrictionContribution()
        #expect(Purposes.vocabulary.names(in: contribution.permittedPurposes) == ["statistics", "model_training"])
        #expect(RegionVocabulary.standard.names(in: contribution.permittedRegions) == ["CN-BJ", "CN-SH"])
        #expect(contribution.prohibitedPurposes == .none)
        let compiled = CompiledPolicy(narrow).restrictionContribution()
        #expect(compiled.permittedPurposes == contribution.permittedPurposes && compiled.permittedRegions == contribution.permittedRegions)

        var open = narrow
        open.rules.append(PolicyRule(id: "anyone-in-gd", kind: .permission, action: .use, constraints: RuleConstraints(regions: ["CN-GD"])))
        #expect(open.restrictionContribution().permittedPurposes == .all)
        #expect(RegionVocabulary.standard.names(in: open.restrictionContribution().permittedRegions) == ["CN-BJ", "CN-GD", "CN-SH"])

        // A child with an open policy derived from `narrow` inherits its bounds (R21).
        let parent = Restrictions(permittedPurposes: contribution.permittedPurposes, permittedRegions: contribution.permittedRegions)
        let childOwn = Policy(dataset: DatasetID(rawValue: 2), rules: [PolicyRule(id: "all", kind: .permission, action: .use)]).restrictionContribution()
        let child = Restrictions(permittedPurposes: childOwn.permittedPurposes, permittedRegions: childOwn.permittedRegions)
            .inheriting(parent, through: .derived)
        #expect(child.permittedPurposes == contribution.permittedPurposes && child.permittedRegions == contribution.permittedRegions)
    }

    /// R21: the purpose and region vocabularies are fixed lists whose bit positions never move, and both
    /// stay clear of the bit that stands for "unlisted".
    @Test func R21_vocabulariesArePublishedAndStable() {
        #expect(Purposes.standard.count == 16 && Set(Purposes.standard).count == 16)
        #expect(Purposes.vocabulary.names == Purposes.standard)
        #expect(Purposes.isPublicInterest("public_welfare") && Purposes.isPublicInterest("public_governance"))
        #expect(!Purposes.isPublicInterest("model_training"))
        #expect(RegionVocabulary.standard.names == Regions.provincial.keys.sorted())
        #expect(RegionVocabulary.standard.names.count == 34 && RegionVocabulary.standard.existingBit(for: "CN-AH") == 0)
    }
}

extension String {
    fileprivate func replacingOnce(_ target: String, with replacement: String) -> String {
        precondition(contains(target), "\(target) not in the document")
        return replacing(target, with: replacement, maxReplacements: 1)
    }
}

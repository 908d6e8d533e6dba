/// Every limit of the service in one place (this file: ``Limits`` and the HTTP edge's ``EdgeLimits``),
/// with the relations between them checked.
///
/// A limit that is not here does not exist. Values are defaults; configuration may lower them (and, for
/// the ones marked, raise them) within what ``validate()`` accepts.
public struct Limits: Sendable, Equatable {
    /// Largest request body the server reads, in bytes; larger bodies get 413.
    public var maxRequestBodyBytes: Int = 1 << 20
    /// PostgreSQL connections in the server's pool (each on its own thread).
    public var databasePoolConnections: Int = 8
    /// Requests allowed to queue for a connection before new ones fail fast with 503.
    public var databasePoolWaiters: Int = 1_024
    /// How long a request may wait for a database connection, in milliseconds.
    public var databaseAcquireTimeoutMilliseconds: Int = 5_000
    /// How long readiness waits for the database before answering 503, in milliseconds.
    public var readinessTimeoutMilliseconds: Int = 2_000
    /// Longest a graceful shutdown waits for requests in flight, in seconds.
    public var shutdownGraceSeconds: Int = 30
    /// After SIGTERM, how long the server keeps serving (not ready) before its graceful shutdown starts,
    /// in milliseconds: a request whose head is still arriving gets through and is answered.
    public var shutdownDrainMilliseconds: Int = 1_000
    /// R26: how old a usage event may be when reported; older ones are refused. Idempotency keys are
    /// remembered in memory for this long plus the clock skew, up to ``usageKeyMemory``.
    public var usageReportWindowSeconds: Int64 = Limits.defaultUsageReportWindowSeconds
    /// R26: most idempotency keys remembered in memory (about 57 bytes each), whatever the rate. Older
    /// keys are still counted once: PostgreSQL holds a unique key on (assignee, key), and a key it
    /// refuses is answered from what it stored.
    public var usageKeyMemory: Int = Limits.defaultUsageKeyMemory
    /// How long a write whose COMMIT answer was lost waits for PostgreSQL to say whether it committed
    /// before it is answered 503; the node stays fenced (no writes, not ready) until it knows.
    public var lostCommitAnswerWaitMilliseconds: Int = 10_000
    /// A quota lease not drawn from for this long is given back by its replica (an idle grant holds
    /// nothing; issue 18). Tests that must keep a slice across a pause raise it.
    public var quotaLeaseIdleMilliseconds: Int64 = 2_000
    /// A benchmark switch, not a limit: false keeps no usage rollups (issue 16), so that one run can
    /// measure the durable usage rate with and without them (`DATARIGHTS_BENCH_NO_USAGE_ROLLUPS=1`).
    /// Never off in service: statistics would then be missing the usage metered meanwhile.
    public var usageRollups = true

    public init() {}

    // Domain limits: fixed, not configurable.

    /// Names, titles, labels.
    public static let maxShortTextLength = 300
    /// Descriptions, grounds, reasons, statements.
    public static let maxLongTextLength = 10_000
    public static let maxTagLength = 64
    public static let maxTagsPerDataset = 32
    public static let maxEvidencePerRegistration = 64
    /// Certificates a change or renewal looks back through for the authorisation its right rests on (R9).
    public static let maxCertificateChain = 10_000
    /// Holidays plus make-up working days in the calendar setting.
    public static let maxCalendarDays = 2_000
    /// The sandbox clock moves at most ten years at a time.
    public static let maxClockAdvanceSeconds: Int64 = 10 * 366 * 86_400
    /// The sandbox clock runs at most a century ahead of the wall clock, in all.
    public static let maxClockOffsetSeconds: Int64 = 100 * 366 * 86_400
    /// Sources named in one derivation request.
    public static let maxSourcesPerDerivation = 64
    /// Nodes one lineage walk may visit when the request names no smaller budget.
    public static let maxTraversalBudget = 1_000_000
    public static let defaultTraversalBudget = 10_000
    /// Largest page of any list endpoint.
    public static let maxPageSize = 200
    public static let defaultPageSize = 50
    /// Longest period of a compliance query over usage, in days (a year, leap or not).
    public static let maxCompliancePeriodDays = 366
    /// Pages `datarights report` fetches for one report (each at most ``maxPageSize`` rows): beyond
    /// it the report stops and asks for narrower filters.
    public static let maxReportPages = 100_000
    /// Records a list request may scan to fill a page before it returns with a cursor.
    public static let maxScanPerPage = 100_000

    // The web console (RegistryServer/Console): what one page asks of the API, so that a page costs a
    // bounded number of in-process calls whatever the registry holds.
    /// Levels of ancestors and of descendants a dataset page draws, and the most datasets it draws on
    /// each side (the page says so when there are more). Each drawn dataset costs one call for its sources.
    public static let consoleLineageAncestorDepth: Int32 = 3
    public static let consoleLineageDescendantDepth: Int32 = 2
    public static let consoleLineageNodesPerSide = 30
    /// Rows of one console list page, and the pages back a "Previous" link remembers.
    public static let consolePageSize = 25
    public static let consolePageTrail = 50
    /// Usage events a lab's grant chart reads (at most ``maxPageSize`` a call): beyond them the chart
    /// says it is partial.
    public static let consoleUsageEventsPerGrant = 2_000
    /// Series a statistics chart draws (the largest values; the table lists every row of the page).
    public static let consoleChartSeries = 5
    /// Pages of the API (each at most ``maxPageSize`` rows) one console CSV download streams, and one
    /// statistics chart reads.
    public static let consoleCSVPages = 50
    public static let consoleChartPages = 10
    /// Highest price a policy may set: 100,000 yuan per million tokens, in fen.
    public static let maxPricePerMillionTokens: Int64 = 10_000_000
    /// Most tokens one access request may ask for, and one daily cap may allow (10^15).
    public static let maxTokens: Int64 = 1_000_000_000_000_000
    /// Longest validity window of an access request: ten years.
    public static let maxAccessValiditySeconds: Int64 = 10 * 366 * 86_400
    /// Queries in one batch decision request.
    public static let maxDecisionsPerBatch = 1_000
    /// R19: working days a holder has to reply to a conditional sharing request.
    public static let sharingReplyWorkingDays = 5
    /// Usage events in one request to the batched endpoint (R26).
    public static let maxUsageEventsPerRequest = 4_096
    /// Usage events in one group commit: requests are committed together up to this many events.
    public static let maxUsageEventsPerCommit = 32_768
    public static let maxTokensPerUsageEvent: Int64 = 1_000_000_000_000
    /// Individuals one dataset may say it covers: more than live on Earth.
    public static let maxIndividualsCovered: Int64 = 10_000_000_000
    /// Largest size a dataset may declare: one exabyte.
    public static let maxDatasetSizeBytes: Int64 = 1 << 60
    /// Capacity of a daily token counter without a cap (an assignee's, a dataset's): 2^62, far above any
    /// real day (the national market uses about 1.4 × 10^14 tokens a day) and far below overflow.
    public static let maxCounterTokens: Int64 = 1 << 62
    /// Capacity of the ledger (R28): all charges together, in fen — 2^61, about 2.3 × 10^16 yuan. Royalties
    /// are paid out of charges, so every account's debits or credits, and their totals, stay below 2^62.
    /// A use that would pass it is denied (rule R28), never allowed to overflow.
    public static let maxLedgerChargeFen: Int64 = 1 << 61
    /// The longest idempotency key: a usage event's (R26) and a creating request's `Idempotency-Key` header.
    public static let maxIdempotencyKeyBytes = 128
    /// How long a creating request's `Idempotency-Key` is answered from its stored answer (issue 17): a
    /// retry or a resumed import within it replays; the clock deletes older keys.
    public static let idempotencyKeyRetentionDays: Int64 = 30
    /// Keys older than the retention deleted by one clock tick (a minute): the table shrinks by at most
    /// this many rows a minute, a bounded statement on a busy registry.
    public static let maxIdempotencyKeysPrunedPerTick: Int64 = 10_000
    public static let maxUsageMetadataBytes = 2_048
    /// `datarights import` (issue 17): the largest file and the most lines it reads (split bigger ones).
    public static let maxImportFileBytes = 1 << 30
    public static let maxImportLines = 10_000_000
    /// A file-local dataset name (`ref`): 1 to 64 letters, digits, `.`, `_` or `-`.
    public static let maxImportReferenceLength = 64
    /// Requests an import keeps in flight, by default and at most (the edge's requests in flight per key
    /// is 256 by default: more would be refused with 429).
    public static let defaultImportConcurrency = 16
    public static let maxImportConcurrency = 256
    /// The longest wait an import takes from a `Retry-After`, and how long it keeps retrying a server that
    /// does not answer (or answers 503) before it stops with exit status 2.
    public static let maxImportRetryAfterSeconds = 60
    public static let importUnreachableSeconds = 120
    /// How old an event may be when reported, unless the deployment says otherwise (R26): a day.
    public static let defaultUsageReportWindowSeconds: Int64 = 86_400
    public static let minUsageReportWindowSeconds: Int64 = 60
    public static let maxUsageReportWindowSeconds: Int64 = 7 * 86_400
    /// The clock skew tolerated between a lab and the registry: how far ahead of the registry's clock an
    /// event's time may be, and how far before a grant's validity begins a use may be dated (R23, R26).
    public static let usageClockSkewSeconds: Int64 = 300
    /// Idempotency keys remembered in memory by default (about 230 MB at ~57 bytes a key).
    public static let defaultUsageKeyMemory = 4_000_000
    /// Fewest keys the memory may be set to.
    public static let minUsageKeyMemory = 1_000
    /// Ancestors a royalty split walks at most (R28); the share shrinks tenfold a hop, so this is never reached in practice.
    public static let maxRoyaltyAncestors = 4_096
    public static let maxAssigneeDailyCaps = 100_000
    /// Lines of one statement (postings grouped by grant, dataset and counterparty).
    public static let maxStatementLines = 10_000
    /// Days one statement covers at most.
    public static let maxStatementDays = 366

    // Market statistics (issue 16).

    /// Days one statistics answer covers at most (its period; rankings read the period before as well).
    public static let maxStatisticsDays = 366
    /// The public statistics show no cell that fewer than this many distinct assignees, or distinct
    /// dataset holders, contributed to (small-cell suppression); regulators see every cell.
    public static let minPartiesPerPublicStatisticsCell = 3
    /// Public statistics answers computed at once (they need no API key, so no key's rate limit bounds
    /// them); a request beyond is told to retry (429) rather than wait.
    public static let maxPublicStatisticsInFlight = 2
    /// Public catalog pages (`GET /v1/catalog/dcat`, no API key) computed at once; a request beyond is told
    /// to retry (429) rather than wait.
    public static let maxPublicCatalogInFlight = 2
    /// Day summaries (a dimension's values on one past day) market statistics keep between answers: six
    /// dimensions over more than a year of days.
    public static let maxStatisticsCachedDays = 6 * 400

    // Policies (R20).

    /// Rules in one policy.
    public static let maxPolicyRules = 64
    /// Entries in any one constraint list of a policy rule.
    public static let maxPolicyListEntries = 64
    public static let maxPolicyRuleIDLength = 100
    /// A retention duty deletes after 1 day to 100 years.
    public static let policyRetentionDaysRange = 1...36_500
    /// Policy validation stops collecting problems after this many.
    public static let maxPolicyProblemsReported = 100

    /// Largest ODRL document accepted for import, in bytes, and its deepest nesting.
    public static let maxODRLDocumentBytes = 1 << 20
    public static let maxODRLDepth = 32

    // Metering.

    /// Usage groups a replica commits back to back (pipelined) before it gives up its writer lock, so that
    /// commands waiting for it are not starved by a steady stream of usage.
    public static let maxPipelinedUsageGroups = 64

    // Quota leases (issue 18, schema 0015, docs/SCALING.md "Quotas across replicas").

    /// How long a quota lease lives without a draw before another replica may reclaim it: what a crashed
    /// replica strands, at most. Every draw extends it.
    public static let quotaLeaseSeconds: Int64 = 10
    /// How often a replica measures its rates and gives back idle leases.
    public static let quotaLeaseSweepMilliseconds: Int64 = 500
    /// A reservation asks, beyond what the batch needs, for this many seconds of the subject's recent rate
    /// on this replica (at least ``minQuotaSliceTokens``), capped by PostgreSQL at the tokens available
    /// beyond the need divided by twice the replicas holding the subject.
    public static let quotaSliceSeconds: Int64 = 1
    public static let minQuotaSliceTokens: Int64 = 1_000

    // Lineage.

    /// Reachability labels kept on average per dataset before the index gives up and every query walks
    /// (this registry's national-scale synthetic lineage needs about 8).
    public static let maxReachabilityIntervalsPerDataset = 12

    // Parsers of what clients send.

    /// JSON nesting the strict request-body parser accepts.
    public static let maxJSONDepth = 32
    /// JSON nesting inside a usage event's metadata (the batched endpoint's own parser).
    public static let maxUsageBodyDepth = 16

    // The server's own bookkeeping.

    /// API keys the rate limiter tracks at once; past this the idle ones are forgotten.
    public static let maxRateLimitedKeys = 1_000_000
    /// Traversal scratches kept for reuse; more concurrent walkers allocate their own.
    public static let maxPooledTraversalScratches = 16
    /// How often the clock completes what became due (notices that ended, grants that expired), in seconds.
    public static let clockTickSeconds = 60
    /// Replicas (issue 18): how long a replica waits for a notification that the log grew before it
    /// looks anyway, in milliseconds.
    public static let followPollMilliseconds = 500
    /// Entries read a round when a replica follows the log.
    public static let followPageEntries = 1_000
    /// A replica further behind than this many entries rebuilds its core from the tables rather than
    /// apply them one by one.
    public static let maxFollowEntries = 200_000
    /// How long a write waits for its turn while another replica writes, in milliseconds (then 503).
    public static let turnWaitMilliseconds = 10_000
    /// How long a replica may fail to listen to or catch up with the log before readiness fails (its
    /// reads would fall behind the others').
    public static let followTroubleSeconds: Int64 = 5
    /// A cold start reads on two connections: how long one waits for the other's snapshot or import, and
    /// for the other's tables (a million-dataset registry reads in seconds), in seconds.
    public static let coldStartHandOffSeconds = 120
    public static let coldStartSideReadSeconds = 600

    // The numbers the domain rules state (../shared/BRIEF.md); ``Rule`` says each rule in words.

    /// R4: working days of public notice.
    public static let noticePeriodWorkingDays = 10
    /// R9: years a certificate is valid, unless its authorisation ends sooner.
    public static let certificateValidityYears = 3
    /// R16: individuals whose personal information one processor sends abroad in a calendar year from
    /// which the standard contract is needed.
    public static let crossBorderStandardContractIndividuals: Int64 = 100_000
    /// R16: … from which a security assessment is needed.
    public static let crossBorderSecurityAssessmentIndividuals: Int64 = 1_000_000
    /// R16: sensitive personal information of this many individuals abroad needs a security assessment.
    public static let crossBorderSecurityAssessmentSensitiveIndividuals: Int64 = 10_000
    /// R16, R29: a processor is "near" a threshold from this percentage of it (and "over" at the threshold
    /// itself): what the cross-border compliance answer tells regulators to watch.
    public static let crossBorderNearThresholdPercent: Int64 = 80
    /// R23: the default published ceiling on the price of public data: 20 yuan per million tokens, in fen.
    public static let defaultPublicDataFeeCeiling: Int64 = 2_000
    /// R28: the default royalty share per derivation edge: 10 %, in basis points.
    public static let defaultRoyaltyShareBasisPoints: Int64 = 1_000
    /// R28: what a dataset's sources take together at most, however many there are: 50 %.
    public static let maxRoyaltyPoolBasisPoints: Int64 = 5_000

    /// Problems with these limits, in words; empty when they are consistent.
    public func validate() -> [String] {
        var problems: [String] = []
        if maxRequestBodyBytes < 1_024 || maxRequestBodyBytes > 64 << 20 {
            problems.append("maxRequestBodyBytes must be between 1 KiB and 64 MiB, is \(maxRequestBodyBytes)")
        }
        if databasePoolConnections < 1 || databasePoolConnections > 256 {
            problems.append("databasePoolConnections must be between 1 and 256, is \(databasePoolConnections)")
        }
        if databasePoolWaiters < databasePoolConnections {
            problems.append("databasePoolWaiters (\(databasePoolWaiters)) must be at least databasePoolConnections (\(databasePoolConnections))")
        }
        if usageReportWindowSeconds < Self.minUsageReportWindowSeconds || usageReportWindowSeconds > Self.maxUsageReportWindowSeconds {
            problems.append(
                "usageReportWindowSeconds must be between \(Self.minUsageReportWindowSeconds) and \(Self.maxUsageReportWindowSeconds), is \(usageReportWindowSeconds)")
        }
        if usageKeyMemory < Self.minUsageKeyMemory || usageKeyMemory > 1_000_000_000 {
            problems.append("usageKeyMemory must be between \(Self.minUsageKeyMemory) and 1,000,000,000, is \(usageKeyMemory)")
        }
        if readinessTimeoutMilliseconds > databaseAcquireTimeoutMilliseconds {
            problems.append("readinessTimeoutMilliseconds must not exceed databaseAcquireTimeoutMilliseconds")
        }
        return problems
    }
}

extension BinaryInteger {
    /// The number with a comma every three digits (1,000,000), as the rules state their thresholds.
    public var grouped: String {
        let digits = String(self.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (self < 0 ? "-" : "") + out
    }
}

/// The limits of the HTTP edge: connections, request heads, slow clients and per-key request rates.
/// The service's other limits are in ``Limits`` (this file); `docs/SECURITY.md` lists both with their
/// defaults and where each is set (`datarights serve` flags and `DATARIGHTS_*` environment variables).
public struct EdgeLimits: Sendable, Equatable {
    /// Open connections the server accepts at once; further ones wait in the listen backlog.
    public var maxConnections: Int = 4_096
    /// Longest request target (path and query), in bytes; longer is 414.
    public var maxURLBytes: Int = 8 * 1_024
    /// Largest header field, and all header fields together, in bytes; larger is 431.
    public var maxHeaderFieldBytes: Int = 16 * 1_024
    public var maxHeaderBytes: Int = 64 * 1_024
    /// Most header fields in one request; more is 431.
    public var maxHeaderFields: Int = 100
    /// From a request's first byte to the end of its head, in seconds: slower is cut off (408).
    public var requestHeadTimeoutSeconds: Int = 10
    /// From a request's head to the end of its body, in seconds: slower is cut off.
    public var requestBodyTimeoutSeconds: Int = 60
    /// A keep-alive connection with no request for this long is closed, in seconds.
    public var idleTimeoutSeconds: Int = 75

    /// Requests a second each API key may make, sustained, and in a burst, on routes other than usage
    /// and decisions; 0 turns the limit off.
    public var requestsPerSecondPerKey: Int = 200
    public var requestBurstPerKey: Int = 400
    /// `POST /v1/usage` has its own bucket per key (each request carries up to 4,096 events).
    public var usageRequestsPerSecondPerKey: Int = 1_000
    public var usageRequestBurstPerKey: Int = 2_000
    /// `GET` and `POST /v1/decisions` have their own bucket per key: they sit in labs' serving paths.
    public var decisionRequestsPerSecondPerKey: Int = 100_000
    public var decisionRequestBurstPerKey: Int = 200_000
    /// Requests of one API key in flight at once; more get 429. 0 turns the cap off.
    public var maxConcurrentRequestsPerKey: Int = 256

    public init() {}

    /// Problems with these limits, in words; empty when they are consistent.
    public func validate() -> [String] {
        var problems: [String] = []
        func check(_ name: String, _ value: Int, _ range: ClosedRange<Int>) {
            if !range.contains(value) { problems.append("\(name) must be between \(range.lowerBound) and \(range.upperBound), is \(value)") }
        }
        check("maxConnections", maxConnections, 1...1_000_000)
        check("maxURLBytes", maxURLBytes, 256...1 << 20)
        check("maxHeaderFieldBytes", maxHeaderFieldBytes, 256...1 << 20)
        check("maxHeaderBytes", maxHeaderBytes, 1_024...4 << 20)
        check("maxHeaderFields", maxHeaderFields, 8...10_000)
        check("requestHeadTimeoutSeconds", requestHeadTimeoutSeconds, 1...3_600)
        check("requestBodyTimeoutSeconds", requestBodyTimeoutSeconds, 1...3_600)
        check("idleTimeoutSeconds", idleTimeoutSeconds, 1...86_400)
        for (name, rate, burst) in [
            ("requests", requestsPerSecondPerKey, requestBurstPerKey), ("usageRequests", usageRequestsPerSecondPerKey, usageRequestBurstPerKey),
            ("decisionRequests", decisionRequestsPerSecondPerKey, decisionRequestBurstPerKey),
        ] {
            check("\(name)PerSecondPerKey", rate, 0...10_000_000)
            if rate > 0 && burst < 1 { problems.append("\(name)BurstPerKey must be at least 1 when the rate is on") }
        }
        check("maxConcurrentRequestsPerKey", maxConcurrentRequestsPerKey, 0...1_000_000)
        // The HTTP decoder holds the request target to the header field limit as well.
        if maxURLBytes > maxHeaderFieldBytes { problems.append("maxURLBytes must not exceed maxHeaderFieldBytes") }
        if maxHeaderFieldBytes > maxHeaderBytes { problems.append("maxHeaderFieldBytes must not exceed maxHeaderBytes") }
        return problems
    }
}

extension EdgeLimits {
    /// Every limit by its name, for `--edge-limit name=value` and `DATARIGHTS_EDGE_LIMITS`.
    public static var names: [String: WritableKeyPath<EdgeLimits, Int>] {
        [
        "maxConnections": \.maxConnections, "maxURLBytes": \.maxURLBytes, "maxHeaderFieldBytes": \.maxHeaderFieldBytes,
        "maxHeaderBytes": \.maxHeaderBytes, "maxHeaderFields": \.maxHeaderFields,
        "requestHeadTimeoutSeconds": \.requestHeadTimeoutSeconds, "requestBodyTimeoutSeconds": \.requestBodyTimeoutSeconds,
        "idleTimeoutSeconds": \.idleTimeoutSeconds,
        "requestsPerSecondPerKey": \.requestsPerSecondPerKey, "requestBurstPerKey": \.requestBurstPerKey,
        "usageRequestsPerSecondPerKey": \.usageRequestsPerSecondPerKey, "usageRequestBurstPerKey": \.usageRequestBurstPerKey,
        "decisionRequestsPerSecondPerKey": \.decisionRequestsPerSecondPerKey, "decisionRequestBurstPerKey": \.decisionRequestBurstPerKey,
        "maxConcurrentRequestsPerKey": \.maxConcurrentRequestsPerKey,
        ]
    }

    /// Applies `name=value` settings, separated by commas or given one by one; a problem in words for
    /// an unknown name or a value that is not a whole number.
    public mutating func apply(_ settings: [String]) throws(EdgeLimitsError) {
        for item in settings.flatMap({ $0.split(separator: ",") }) {
            let parts = item.split(separator: "=", maxSplits: 1).map { String($0).trimmingWhitespace }
            guard parts.count == 2, let path = Self.names[parts[0]] else {
                throw EdgeLimitsError(description: "unknown edge limit '\(item)': one of \(Self.names.keys.sorted().joined(separator: ", "))")
            }
            guard let value = Int(parts[1]) else { throw EdgeLimitsError(description: "edge limit \(parts[0]) must be a whole number, is '\(parts[1])'") }
            self[keyPath: path] = value
        }
    }
}

public struct EdgeLimitsError: Error, CustomStringConvertible {
    public var description: String
}

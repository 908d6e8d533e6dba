/// Grants, row by row in fixed-size records: the cold-start target counts a million of them, and a
/// `Grant?` with its own strings and the dictionaries that indexed it cost about 400 bytes each. A row
/// here is 104 bytes: ids as 32-bit (the core's dense ids stay below 2³¹), purposes and regions interned
/// (a registry has few), the number kept inline (`GR-2026-000001` fits Swift's 15-byte small string, so
/// it takes no allocation), the rare state reason aside. Read by number without a dictionary: a
/// canonical number names its id. Addressed by dense ids like ``DenseTable``, with the same interface.
public struct GrantTable: Sendable, IDAddressedTable {
    struct Row: Sendable {
        var number: String
        var tokenQuota: Int64
        var validFrom: Int64
        var validUntil: Int64
        var price: Int64
        var individuals: Int64
        var created: Int64
        var updated: Int64
        var request: Int32
        var dataset: Int32
        var assignee: Int32
        var grantor: Int32
        var purpose: UInt32
        var useRegion: UInt32
        /// `Int32.min`: no retention duty.
        var retentionDays: Int32
        var action: UInt8
        /// 0: no grant with this id; otherwise 1 + the state's index in `AccessState.allCases`.
        var state: UInt8
        /// free 1, cross-border 2, sensitive 4.
        var flags: UInt8
    }

    private var rows: [Row] = []
    private var strings = Interner<String>()
    private var stateReasons: [Int32: String] = [:]
    /// Numbers that do not name their id in the canonical form (only records written by hand).
    private var oddNumbers: [String: Int32] = [:]

    public init() {}

    /// The number of ids handed out so far (the highest id).
    public var count: Int { rows.count }
    /// The id the next grant gets.
    public var nextID: Int64 { Int64(rows.count + 1) }

    public subscript(id: Int64) -> Grant? {
        guard id >= 1 && id <= Int64(rows.count) else { return nil }
        let row = rows[Int(id - 1)]
        guard row.state != 0 else { return nil }
        return Grant(
            id: GrantID(rawValue: id), number: row.number, request: AccessRequestID(rawValue: Int64(row.request)),
            dataset: DatasetID(rawValue: Int64(row.dataset)), assignee: PartyID(rawValue: Int64(row.assignee)),
            grantor: PartyID(rawValue: Int64(row.grantor)), purpose: strings[Int(row.purpose)], action: PolicyAction.allCases[Int(row.action)],
            tokenQuota: row.tokenQuota, validFrom: Timestamp(rawValue: row.validFrom), validUntil: Timestamp(rawValue: row.validUntil),
            useRegion: strings[Int(row.useRegion)], pricePerMillionTokens: row.price, free: row.flags & 1 != 0,
            retentionDays: row.retentionDays == .min ? nil : Int(row.retentionDays), crossBorder: row.flags & 2 != 0,
            individualsCovered: row.individuals, sensitive: row.flags & 4 != 0, state: AccessState.allCases[Int(row.state - 1)],
            stateReason: stateReasons[Int32(id)], createdAt: Timestamp(rawValue: row.created), updatedAt: Timestamp(rawValue: row.updated))
    }

    /// Inserts or replaces grant `id`. Ids beyond the end leave gaps that read as absent.
    public mutating func upsert(_ grant: Grant, id: Int64) {
        precondition(id >= 1 && id < Int64(Int32.max), "grant ids are dense, below 2³¹")
        let index = Int(id - 1)
        if index >= rows.count {
            rows.append(contentsOf: repeatElement(Self.absent, count: index - rows.count + 1))
        }
        let key = Int32(id)
        if rows[index].state != 0, rows[index].number != grant.number, oddNumbers[rows[index].number] == key {
            oddNumbers[rows[index].number] = nil
        }
        if CanonicalNumber.id(in: grant.number, prefix: "GR") != id { oddNumbers[grant.number] = key }
        rows[index] = Row(
            number: grant.number, tokenQuota: grant.tokenQuota, validFrom: grant.validFrom.rawValue, validUntil: grant.validUntil.rawValue,
            price: grant.pricePerMillionTokens, individuals: grant.individualsCovered, created: grant.createdAt.rawValue,
            updated: grant.updatedAt.rawValue, request: rowID(grant.request.rawValue), dataset: rowID(grant.dataset.rawValue),
            assignee: rowID(grant.assignee.rawValue), grantor: rowID(grant.grantor.rawValue), purpose: UInt32(strings.index(of: grant.purpose)),
            useRegion: UInt32(strings.index(of: grant.useRegion)),
            retentionDays: grant.retentionDays.map { Int32(clamping: $0) } ?? .min,
            action: UInt8(PolicyAction.allCases.firstIndex(of: grant.action)!),
            state: UInt8(AccessState.allCases.firstIndex(of: grant.state)! + 1),
            flags: (grant.free ? 1 : 0) | (grant.crossBorder ? 2 : 0) | (grant.sensitive ? 4 : 0))
        stateReasons[key] = grant.stateReason
    }

    /// The id of the grant numbered `number`, without a dictionary for numbers in the canonical form.
    public func id(number: String) -> Int64? {
        if let id = CanonicalNumber.id(in: number, prefix: "GR"), id >= 1, id <= Int64(rows.count), rows[Int(id - 1)].number == number {
            return id
        }
        return oddNumbers[number].map(Int64.init)
    }

    /// Grants not in a terminal state whose validity has begun (still `agreed`) or ended at `now`: what
    /// the clock activates or expires. A scan of the rows, without making a record of the others.
    func dueForClock(at now: Timestamp) -> [Int64] {
        let agreed = UInt8(AccessState.allCases.firstIndex(of: .agreed)! + 1)
        var open = [Bool](repeating: false, count: AccessState.allCases.count + 1)
        for (index, state) in AccessState.allCases.enumerated() where !state.isTerminal { open[index + 1] = true }
        var due: [Int64] = []
        rows.withUnsafeBufferPointer { rows in
            for index in rows.indices where open[Int(rows[index].state)] {
                let row = rows[index]
                if now.rawValue >= row.validUntil || (row.state == agreed && now.rawValue >= row.validFrom) { due.append(Int64(index + 1)) }
            }
        }
        return due
    }

    /// What a compliance scan over every grant reads of one, without making the record: scalars only.
    public struct Facts: Sendable, Equatable {
        public var state: AccessState
        public var dataset: DatasetID
        public var assignee: PartyID
        public var request: AccessRequestID
        public var action: PolicyAction
        public var individualsCovered: Int64
        public var createdAt: Timestamp
        public var crossBorder: Bool
        public var sensitive: Bool
    }

    /// The facts of grant `id`; nil when there is none.
    public func facts(_ id: Int64) -> Facts? {
        guard id >= 1 && id <= Int64(rows.count) else { return nil }
        let row = rows[Int(id - 1)]
        guard row.state != 0 else { return nil }
        return Facts(
            state: AccessState.allCases[Int(row.state - 1)], dataset: DatasetID(rawValue: Int64(row.dataset)),
            assignee: PartyID(rawValue: Int64(row.assignee)), request: AccessRequestID(rawValue: Int64(row.request)),
            action: PolicyAction.allCases[Int(row.action)], individualsCovered: row.individuals, createdAt: Timestamp(rawValue: row.created),
            crossBorder: row.flags & 2 != 0, sensitive: row.flags & 4 != 0)
    }

    /// Where grant `id` is used, without making the record.
    public func useRegion(of id: Int64) -> String? {
        guard id >= 1 && id <= Int64(rows.count), rows[Int(id - 1)].state != 0 else { return nil }
        return strings[Int(rows[Int(id - 1)].useRegion)]
    }

    public mutating func reserveCapacity(_ capacity: Int) { rows.reserveCapacity(capacity) }

    private static let absent = Row(
        number: "", tokenQuota: 0, validFrom: 0, validUntil: 0, price: 0, individuals: 0, created: 0, updated: 0, request: 0, dataset: 0,
        assignee: 0, grantor: 0, purpose: 0, useRegion: 0, retentionDays: .min, action: 0, state: 0, flags: 0)
}

/// Access requests, row by row, as ``GrantTable`` keeps grants: 104 bytes a row, the assessment records'
/// digests as 32 bytes each in one pool, refusals, replies and duties (the exceptions) aside.
public struct AccessRequestTable: Sendable, IDAddressedTable {
    struct Row: Sendable {
        var number: String
        var tokens: Int64
        var validFrom: Int64
        var validUntil: Int64
        var created: Int64
        var updated: Int64
        /// `Int64.min`: not replied.
        var repliedAt: Int64
        var dataset: Int32
        var requester: Int32
        /// 0: none.
        var repliedBy: Int32
        var grant: Int32
        /// Days since 1970; `Int32.min`: no reply due.
        var replyDueOn: Int32
        var purpose: UInt32
        var useRegion: UInt32
        /// Where this request's record digests start in `digests`, in field order of `presentRecords`.
        var firstDigest: UInt32
        var action: UInt8
        /// 0: no request with this id; otherwise 1 + the state's index in `AccessState.allCases`.
        var state: UInt8
        /// Which of the five records are present (bit i: field i of ``AccessRecords/fields``).
        var presentRecords: UInt8
    }

    private var rows: [Row] = []
    private var strings = Interner<String>()
    private var digests: [Fingerprint] = []
    /// Records whose digests are not 64 lowercase hex digits, kept as written.
    private var oddRecords: [Int32: AccessRecords] = [:]
    private var refusals: [Int32: [Refusal]] = [:]
    private var replies: [Int32: String] = [:]
    private var duties: [Int32: String] = [:]
    private var oddNumbers: [String: Int32] = [:]

    public init() {}

    public var count: Int { rows.count }
    public var nextID: Int64 { Int64(rows.count + 1) }

    public subscript(id: Int64) -> AccessRequest? {
        guard id >= 1 && id <= Int64(rows.count) else { return nil }
        let row = rows[Int(id - 1)]
        guard row.state != 0 else { return nil }
        let key = Int32(id)
        return AccessRequest(
            id: AccessRequestID(rawValue: id), number: row.number, dataset: DatasetID(rawValue: Int64(row.dataset)),
            requester: PartyID(rawValue: Int64(row.requester)), purpose: strings[Int(row.purpose)], action: PolicyAction.allCases[Int(row.action)],
            tokens: row.tokens, validFrom: Timestamp(rawValue: row.validFrom), validUntil: Timestamp(rawValue: row.validUntil),
            useRegion: strings[Int(row.useRegion)], duty: duties[key], records: oddRecords[key] ?? records(of: row),
            state: AccessState.allCases[Int(row.state - 1)], refusals: refusals[key] ?? [],
            replyDueOn: row.replyDueOn == .min ? nil : CivilDate(daysSince1970: row.replyDueOn), reply: replies[key],
            repliedBy: row.repliedBy == 0 ? nil : PartyID(rawValue: Int64(row.repliedBy)),
            repliedAt: row.repliedAt == .min ? nil : Timestamp(rawValue: row.repliedAt),
            grant: row.grant == 0 ? nil : GrantID(rawValue: Int64(row.grant)), createdAt: Timestamp(rawValue: row.created),
            updatedAt: Timestamp(rawValue: row.updated))
    }

    private func records(of row: Row) -> AccessRecords {
        var records = AccessRecords()
        var next = Int(row.firstDigest)
        for field in 0..<AccessRecords.fieldCount where row.presentRecords & (1 << field) != 0 {
            records[field: field] = digests[next].hex
            next += 1
        }
        return records
    }

    public mutating func upsert(_ request: AccessRequest, id: Int64) {
        precondition(id >= 1 && id < Int64(Int32.max), "access request ids are dense, below 2³¹")
        let index = Int(id - 1)
        if index >= rows.count {
            rows.append(contentsOf: repeatElement(Self.absent, count: index - rows.count + 1))
        }
        let key = Int32(id)
        let previous = rows[index]
        if previous.state != 0, previous.number != request.number, oddNumbers[previous.number] == key { oddNumbers[previous.number] = nil }
        if CanonicalNumber.id(in: request.number, prefix: "AR") != id { oddNumbers[request.number] = key }
        // The records: reuse the pool's slots when they are unchanged (the usual case: records are
        // given with the request and never change), else append.
        var present: UInt8 = 0
        var firstDigest = previous.firstDigest
        var canonical: [Fingerprint] = []
        var odd = false
        for field in 0..<AccessRecords.fieldCount {
            guard let digest = request.records[field: field] else { continue }
            present |= 1 << field
            if let fingerprint = Fingerprint(hex: digest) { canonical.append(fingerprint) } else { odd = true }
        }
        oddRecords[key] = odd ? request.records : nil
        if odd {
            present = 0
        } else if !(previous.state != 0 && previous.presentRecords == present && records(of: previous) == request.records) {
            firstDigest = UInt32(digests.count)
            digests.append(contentsOf: canonical)
        }
        rows[index] = Row(
            number: request.number, tokens: request.tokens, validFrom: request.validFrom.rawValue, validUntil: request.validUntil.rawValue,
            created: request.createdAt.rawValue, updated: request.updatedAt.rawValue, repliedAt: request.repliedAt?.rawValue ?? .min,
            dataset: rowID(request.dataset.rawValue), requester: rowID(request.requester.rawValue),
            repliedBy: request.repliedBy.map { rowID($0.rawValue) } ?? 0, grant: request.grant.map { rowID($0.rawValue) } ?? 0,
            replyDueOn: request.replyDueOn?.daysSince1970 ?? .min, purpose: UInt32(strings.index(of: request.purpose)),
            useRegion: UInt32(strings.index(of: request.useRegion)), firstDigest: firstDigest,
            action: UInt8(PolicyAction.allCases.firstIndex(of: request.action)!),
            state: UInt8(AccessState.allCases.firstIndex(of: request.state)! + 1), presentRecords: present)
        refusals[key] = request.refusals.isEmpty ? nil : request.refusals
        replies[key] = request.reply
        duties[key] = request.duty
    }

    /// The records request `id` carried, as bits of ``AccessRecordKind/bit``, without making the record
    /// or its digests' text; nil when there is no such request.
    func heldRecordMask(of id: Int64) -> UInt8? {
        guard id >= 1 && id <= Int64(rows.count), rows[Int(id - 1)].state != 0 else { return nil }
        if let odd = oddRecords[Int32(id)] { return odd.heldMask }
        return rows[Int(id - 1)].presentRecords
    }

    public func id(number: String) -> Int64? {
        if let id = CanonicalNumber.id(in: number, prefix: "AR"), id >= 1, id <= Int64(rows.count), rows[Int(id - 1)].number == number {
            return id
        }
        return oddNumbers[number].map(Int64.init)
    }

    public mutating func reserveCapacity(_ capacity: Int) { rows.reserveCapacity(capacity) }

    private static let absent = Row(
        number: "", tokens: 0, validFrom: 0, validUntil: 0, created: 0, updated: 0, repliedAt: .min, dataset: 0, requester: 0, repliedBy: 0,
        grant: 0, replyDueOn: .min, purpose: 0, useRegion: 0, firstDigest: 0, action: 0, state: 0, presentRecords: 0)
}

extension AccessRecords {
    static let fieldCount = 5

    /// The records by position, in the order of ``present``.
    subscript(field field: Int) -> String? {
        get {
            switch field {
            case 0: riskAssessment
            case 1: securityAssessment
            case 2: consentEvidence
            case 3: impactAssessment
            default: standardContract
            }
        }
        set {
            switch field {
            case 0: riskAssessment = newValue
            case 1: securityAssessment = newValue
            case 2: consentEvidence = newValue
            case 3: impactAssessment = newValue
            default: standardContract = newValue
            }
        }
    }
}

/// Numbers of the form `PREFIX-YYYY-NNNNNN` whose digits are the record's id, zero-padded to a width
/// (six for access requests and grants, eight for registrations and certificates) as the registry makes
/// them: the id read back without a dictionary.
enum CanonicalNumber {
    /// The id `number` names when it has the canonical form for `prefix` and `width`; nil otherwise.
    static func id(in number: String, prefix: String, width: Int = 6) -> Int64? {
        parse(number, prefix: prefix, width: width)?.id
    }

    /// The year of a number in the canonical form.
    static func year(in number: String, prefix: String, width: Int) -> UInt16? {
        parse(number, prefix: prefix, width: width)?.year
    }

    /// The canonical number of `id` in `year`.
    static func make(_ prefix: String, year: UInt16, id: Int64, width: Int) -> String {
        let digits = String(id)
        let year = String(year)
        return prefix + "-" + String(repeating: "0", count: max(0, 4 - year.count)) + year + "-"
            + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func parse(_ number: String, prefix: String, width: Int) -> (year: UInt16, id: Int64)? {
        let bytes = Array(number.utf8)
        let prefixBytes = Array(prefix.utf8)
        let start = prefixBytes.count + 6
        guard bytes.count >= start + width, bytes.count <= start + 18, bytes.starts(with: prefixBytes), bytes[prefixBytes.count] == UInt8(ascii: "-"),
            bytes[start - 1] == UInt8(ascii: "-")
        else { return nil }
        func digit(_ byte: UInt8) -> Int64? { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int64(byte - UInt8(ascii: "0")) : nil }
        var year: Int64 = 0
        for byte in bytes[(prefixBytes.count + 1)..<(start - 1)] {
            guard let value = digit(byte) else { return nil }
            year = year * 10 + value
        }
        let digits = bytes[start...]
        // Zero-padded to the width, never more padding than that.
        guard digits.count == width || digits.first != UInt8(ascii: "0") else { return nil }
        var id: Int64 = 0
        for byte in digits {
            guard let value = digit(byte) else { return nil }
            id = id * 10 + value
        }
        return (UInt16(year), id)
    }
}

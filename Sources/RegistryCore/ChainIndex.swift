/// Members grouped by owner, in the order they were added — e.g. registrations by dataset — kept as
/// chains through three flat arrays: no dictionary entry and no array per owner (a million datasets'
/// `[DatasetID: [RegistrationID]]` cost ~70 bytes each; this costs 8 per owner and 4 per member).
/// Ids are the core's dense ids (1, 2, 3 …), below 2³¹.
struct ChainIndex: Sendable {
    /// By owner id: its first and last member (0: none).
    private var head: [Int32] = []
    private var tail: [Int32] = []
    /// By member id: the next member of the same owner (0: the last).
    private var next: [Int32] = []

    /// Adds `member` at the end of `owner`'s chain. Each member is added once.
    mutating func append(_ member: Int64, to owner: Int64) {
        precondition(member > 0 && member < Int64(Int32.max) && owner > 0 && owner < Int64(Int32.max), "dense ids below 2³¹")
        let owner = Int(owner)
        let member = Int(member)
        // Grown to exactly what is used: the arrays' own capacity doubling keeps appends amortised O(1)
        // without writing (and so making resident) the slack.
        if owner >= head.count {
            head.append(contentsOf: repeatElement(0, count: owner + 1 - head.count))
            tail.append(contentsOf: repeatElement(0, count: owner + 1 - tail.count))
        }
        if member >= next.count { next.append(contentsOf: repeatElement(0, count: member + 1 - next.count)) }
        if tail[owner] == 0 {
            head[owner] = Int32(member)
        } else {
            next[Int(tail[owner])] = Int32(member)
        }
        tail[owner] = Int32(member)
    }

    /// `owner`'s members, first added first.
    func members(of owner: Int64) -> [Int64] {
        guard owner > 0, owner < Int64(head.count) else { return [] }
        var members: [Int64] = []
        var member = head[Int(owner)]
        while member != 0 {
            members.append(Int64(member))
            member = next[Int(member)]
        }
        return members
    }
}

extension ChainIndex {
    /// Calls `body` with each of `owner`'s members, first added first, until it returns false; allocates
    /// nothing (what a decision reads on its hot path).
    func forEachMember(of owner: Int64, _ body: (Int64) -> Bool) {
        var member = firstMember(of: owner)
        while member != 0 {
            guard body(member) else { return }
            member = self.member(after: member)
        }
    }

    /// `owner`'s first member, 0 when it has none: with ``member(after:)``, a walk of the chain without a
    /// closure (a closure that reads the state captures it, and reads through it then copy what they call).
    func firstMember(of owner: Int64) -> Int64 {
        guard owner > 0, owner < Int64(head.count) else { return 0 }
        return Int64(head[Int(owner)])
    }

    /// The member after `member` in its owner's chain, 0 after the last.
    func member(after member: Int64) -> Int64 {
        Int64(next[Int(member)])
    }
}

/// Members grouped by a pair of dense ids — grants by assignee and dataset — as a ``ChainIndex`` over a
/// number given to each pair when its first member comes: one small dictionary entry per pair (12
/// bytes of key and value) instead of a dictionary entry and an array.
struct PairChainIndex: Sendable {
    private var pairs: [UInt64: Int32] = [:]
    private var chains = ChainIndex()

    private static func key(_ first: Int64, _ second: Int64) -> UInt64 {
        precondition(first >= 0 && first < Int64(UInt32.max) && second >= 0 && second < Int64(UInt32.max), "dense ids below 2³²")
        return UInt64(first) << 32 | UInt64(second)
    }

    mutating func append(_ member: Int64, to first: Int64, _ second: Int64) {
        let key = Self.key(first, second)
        let pair: Int32
        if let existing = pairs[key] {
            pair = existing
        } else {
            pair = Int32(pairs.count + 1)
            pairs[key] = pair
        }
        chains.append(member, to: Int64(pair))
    }

    func forEachMember(of first: Int64, _ second: Int64, _ body: (Int64) -> Bool) {
        guard let pair = pairs[Self.key(first, second)] else { return }
        chains.forEachMember(of: Int64(pair), body)
    }

    /// The pair's first member, 0 when it has none (see ``ChainIndex/firstMember(of:)``).
    func firstMember(of first: Int64, _ second: Int64) -> Int64 {
        guard let pair = pairs[Self.key(first, second)] else { return 0 }
        return chains.firstMember(of: Int64(pair))
    }

    func member(after member: Int64) -> Int64 { chains.member(after: member) }
}

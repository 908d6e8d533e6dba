/// Where an access request, and the grant it becomes, stand (R22):
///
///     requested ─┬─ approved automatically ──────────────┐
///                ├─ awaiting the holder ─┬─ holder agrees ┴→ agreed → active ⇄ suspended
///                └─ refused (reasons)    └─ holder refuses → refused        ↘ revoked / expired / terminated
///
/// A request lives in `requested`, `awaiting_holder`, `refused` or `agreed`; its grant in `agreed` (not
/// yet valid), `active`, `suspended`, `revoked`, `expired` or `terminated`. Terminal states are final.
public enum AccessState: String, Sendable, Codable, CaseIterable {
    case requested
    case awaitingHolder = "awaiting_holder"
    case refused
    case agreed
    case active
    case suspended
    case revoked
    case expired
    case terminated

    /// Nothing moves a request or grant out of a terminal state.
    public var isTerminal: Bool {
        switch self {
        case .refused, .revoked, .expired, .terminated: true
        case .requested, .awaitingHolder, .agreed, .active, .suspended: false
        }
    }
}

/// What can happen to a request or grant.
public enum AccessEvent: String, Sendable, Equatable, CaseIterable {
    /// The core found the request permitted, every gate passed and automatic approval set.
    case approveAutomatically = "approve_automatically"
    /// Permitted, but the holder decides (its approval mode, or R19 conditional sharing).
    case awaitHolder = "await_holder"
    /// The core refused it with reasons.
    case refuse
    case holderAgrees = "holder_agrees"
    case holderRefuses = "holder_refuses"
    /// The validity window has begun.
    case activate
    /// The holder or a regulator suspends it, or the R25 cascade does.
    case suspend
    case resume
    case revoke
    /// The validity window has ended.
    case expire
    /// The requester withdraws a waiting request, or the assignee gives up a grant.
    case terminate
}

/// Why an event cannot happen in a state.
public struct AccessTransitionRefusal: Error, Equatable, Sendable {
    public var from: AccessState
    public var event: AccessEvent
    public var description: String { "a request or grant that is \(from.rawValue) cannot \(event.rawValue.replacingUnderscores)" }
}

extension AccessState {
    /// The state after `event`, or a refusal when the event cannot happen here. Pure: tested without a database.
    public func after(_ event: AccessEvent) -> Result<AccessState, AccessTransitionRefusal> {
        let next: AccessState? = switch (self, event) {
        case (.requested, .approveAutomatically): .agreed
        case (.requested, .awaitHolder): .awaitingHolder
        case (.requested, .refuse): .refused
        case (.awaitingHolder, .holderAgrees): .agreed
        case (.awaitingHolder, .holderRefuses): .refused
        case (.awaitingHolder, .terminate): .terminated
        case (.agreed, .activate): .active
        case (.agreed, .suspend), (.active, .suspend): .suspended
        case (.suspended, .resume): .active
        case (.agreed, .revoke), (.active, .revoke), (.suspended, .revoke): .revoked
        case (.agreed, .expire), (.active, .expire), (.suspended, .expire): .expired
        case (.agreed, .terminate), (.active, .terminate), (.suspended, .terminate): .terminated
        default: nil
        }
        guard let next else { return .failure(AccessTransitionRefusal(from: self, event: event)) }
        return .success(next)
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }) }
}

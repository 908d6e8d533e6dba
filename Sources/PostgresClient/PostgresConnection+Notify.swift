private import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A notification delivered by `NOTIFY` to a connection that is listening on its channel.
public struct PostgresNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    /// The backend that sent it.
    public var senderPID: Int32
}

extension PostgresConnection {
    /// Starts listening on `channel` (`LISTEN "channel"`).
    public func listen(_ channel: String) throws {
        try executeScript("LISTEN \(PostgresIdentifier.quote(channel))")
    }

    /// Stops listening on `channel`.
    public func unlisten(_ channel: String) throws {
        try executeScript("UNLISTEN \(PostgresIdentifier.quote(channel))")
    }

    /// Sends a notification; delivered to listeners when the surrounding transaction commits.
    public func notify(_ channel: String, payload: String = "") throws {
        try query("SELECT pg_notify(\(channel), \(payload))")
    }

    /// Returns the notifications that have arrived, waiting up to `timeout` for the first one.
    /// An empty array means none arrived in time. Throws when the connection breaks.
    public func waitForNotifications(timeout: Duration) throws -> [PostgresNotification] {
        guard PQconsumeInput(handle) == 1 else { throw connectionError(context: "waiting for notifications") }
        var notifications = drainNotifications()
        if !notifications.isEmpty { return notifications }
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, milliseconds)
        if ready > 0 {
            guard PQconsumeInput(handle) == 1 else { throw connectionError(context: "waiting for notifications") }
            notifications = drainNotifications()
        }
        return notifications
    }

    private func drainNotifications() -> [PostgresNotification] {
        var notifications: [PostgresNotification] = []
        while let notify = PQnotifies(handle) {
            notifications.append(
                PostgresNotification(
                    channel: String(cString: notify.pointee.relname),
                    payload: String(cString: notify.pointee.extra),
                    senderPID: notify.pointee.be_pid))
            PQfreemem(notify)
        }
        return notifications
    }

    /// Checks, without a round trip, that an idle connection is still alive: a backend that was
    /// terminated or a server that restarted leaves the socket readable (an error message, then end of
    /// file), which libpq turns into a broken connection once the input is consumed.
    ///
    /// The pool calls this before handing out a connection that sat idle, so that a dead one is
    /// replaced before any statement of the caller's is sent.
    public func isAliveWhenIdle() -> Bool {
        guard !isBroken else { return false }
        guard isIdle else { return false }
        // A few rounds: the first read may consume the error message, the next one sees end of file.
        for _ in 0..<4 {
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { return true }
            if PQconsumeInput(handle) == 0 || isBroken { return false }
            _ = drainNotifications()
        }
        return !isBroken
    }
}

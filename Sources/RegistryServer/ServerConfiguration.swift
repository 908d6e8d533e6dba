public import RegistryCore

/// How the HTTP server runs. Built by the `datarights serve` command from flags and environment.
public struct ServerConfiguration: Sendable {
    /// Address to bind; `127.0.0.1` unless deliberately exposed.
    public var host: String
    public var port: Int
    /// Sandbox mode: test-clock endpoints exist only when this is on.
    public var sandbox: Bool
    public var limits: Limits
    /// Connections, request heads, slow clients and per-key request rates.
    public var edge: EdgeLimits
    /// Sent in the `Server` header.
    public var serverName: String
    /// The web console's cookies carry `Secure` whatever the request says; without it, only requests that
    /// came over HTTPS (`X-Forwarded-Proto: https`) get it, so that the local demo over http works.
    public var consoleSecureCookies: Bool

    public init(
        host: String = "127.0.0.1", port: Int = 8080, sandbox: Bool = false, limits: Limits = Limits(), edge: EdgeLimits = EdgeLimits(),
        serverName: String = "DataRights", consoleSecureCookies: Bool = false
    ) {
        self.host = host
        self.port = port
        self.sandbox = sandbox
        self.limits = limits
        self.edge = edge
        self.serverName = serverName
        self.consoleSecureCookies = consoleSecureCookies
    }
}

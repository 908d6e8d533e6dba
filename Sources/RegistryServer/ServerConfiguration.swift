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
    /// What the public DCAT-AP catalog says about itself: where the API is reached, who publishes it.
    public var catalog: PublicCatalogSettings
    /// The web console's cookies carry `Secure` whatever the request says; without it, only requests that
    /// came over HTTPS (`X-Forwarded-Proto: https`) get it, so that the local demo over http works.
    public var consoleSecureCookies: Bool

    public init(
        host: String = "127.0.0.1", port: Int = 8080, sandbox: Bool = false, limits: Limits = Limits(), edge: EdgeLimits = EdgeLimits(),
        serverName: String = "DataRights", catalog: PublicCatalogSettings? = nil, consoleSecureCookies: Bool = false
    ) {
        self.host = host
        self.port = port
        self.sandbox = sandbox
        self.limits = limits
        self.edge = edge
        self.serverName = serverName
        self.consoleSecureCookies = consoleSecureCookies
        // Without a configured URL, the address served (an IPv6 literal or odd host falls back to loopback).
        self.catalog = catalog ?? PublicCatalogSettings(publicURL: "http://\(host):\(port)") ?? PublicCatalogSettings(publicURL: "http://127.0.0.1:\(port)")!
    }
}

/// The public catalog's settings (`GET /v1/catalog/dcat`): the URL the API is reached at from outside,
/// which the catalog's links (landing pages, access URLs, the next page) start with, and the name of
/// its publisher when it is not the registry's operator party.
public struct PublicCatalogSettings: Sendable, Equatable {
    /// `http(s)://host[:port][/path]`, without a trailing slash, query or fragment.
    public let publicURL: String
    /// The catalog's publisher; nil: the registry's first operator party, by name.
    public let publisherName: String?

    /// Nil when `publicURL` is not an absolute http or https URL of printable ASCII without a query,
    /// a fragment, spaces or quotes, or the publisher's name is empty or longer than a short text.
    public init?(publicURL: String, publisherName: String? = nil) {
        var url = publicURL
        while url.hasSuffix("/") { url.removeLast() }
        let scheme = url.hasPrefix("https://") ? 8 : url.hasPrefix("http://") ? 7 : 0
        let allowed = url.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !"\"<>\\^`{|}?#".utf8.contains($0) }
        guard scheme > 0, url.utf8.count > scheme, url.utf8.count <= 512, allowed else { return nil }
        if let name = publisherName, name.isEmpty || name.count > Limits.maxShortTextLength { return nil }
        self.publicURL = url
        self.publisherName = publisherName
    }
}

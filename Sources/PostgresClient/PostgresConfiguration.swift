/// Where and how to connect: the keyword/value pairs handed to `PQconnectdbParams`.
///
/// Build one from a libpq connection URI (`postgresql://user@host:5432/db?sslmode=require`, or
/// `postgresql:///db?host=/run/socketdir` for a Unix socket), or from keyword settings. Anything libpq
/// accepts as a keyword can be added with ``setParameter(_:_:)``.
public struct PostgresConfiguration: Sendable, CustomStringConvertible {
    /// Keyword/value pairs in the order libpq will see them; later pairs override earlier ones.
    public private(set) var parameters: [(keyword: String, value: String)]

    /// A configuration from a libpq URI or `key=value` connection string (`DATABASE_URL`).
    public init(url: String) {
        // `dbname` with expand_dbname=1 makes libpq parse a URI or conninfo string in place.
        self.parameters = [("dbname", url)]
        applyDefaults()
    }

    /// A configuration from keyword settings.
    ///
    /// - Parameters:
    ///   - host: a host name or address, or the directory holding a Unix socket (an absolute path).
    ///   - port: TCP port, or the number in the socket file name `.s.PGSQL.<port>`.
    public init(host: String, port: Int = 5432, user: String? = nil, password: String? = nil, database: String) {
        self.parameters = [("host", host), ("port", String(port)), ("dbname", database)]
        if let user { parameters.append(("user", user)) }
        if let password { parameters.append(("password", password)) }
        applyDefaults()
    }

    /// Sets (or overrides) a libpq connection keyword such as `sslmode` or `options`.
    public mutating func setParameter(_ keyword: String, _ value: String) {
        parameters.removeAll { $0.keyword == keyword && keyword != "dbname" }
        parameters.append((keyword, value))
    }

    /// The same settings pointing at another database on the same server.
    public func withDatabase(_ database: String) -> PostgresConfiguration {
        var copy = self
        // A URI in `dbname` is expanded first; a later plain `dbname` overrides the one inside it.
        copy.parameters.append(("dbname", database))
        return copy
    }

    private mutating func applyDefaults() {
        // Defaults go first so that anything a URI or caller sets wins.
        parameters.insert(("application_name", "datarights"), at: 0)
        parameters.insert(("connect_timeout", "10"), at: 0)
        parameters.insert(("client_encoding", "UTF8"), at: 0)
    }

    /// The settings with any password removed, for logs.
    public var description: String {
        parameters.map { pair in
            if pair.keyword == "password" { return "password=***" }
            return "\(pair.keyword)=\(Self.redactingPassword(in: pair.value))"
        }.joined(separator: " ")
    }

    private static func redactingPassword(in value: String) -> String {
        // postgresql://user:secret@host → postgresql://user:***@host
        let characters = Array(value)
        guard let schemeEnd = (0..<max(0, characters.count - 2)).first(where: {
            characters[$0] == ":" && characters[$0 + 1] == "/" && characters[$0 + 2] == "/"
        }) else { return value }
        let authorityStart = schemeEnd + 3
        guard let at = characters[authorityStart...].firstIndex(of: "@"),
            let colon = characters[authorityStart..<at].firstIndex(of: ":")
        else { return value }
        return String(characters[...colon]) + "***" + String(characters[at...])
    }
}

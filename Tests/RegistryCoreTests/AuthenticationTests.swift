import RegistryCore
import Testing

/// API-key authentication in the core: a token names its key by prefix and proves itself by the secret,
/// whose SHA-256 the key record holds. Keys are issued and revoked through plan and apply, as the store does.
@Suite struct AuthenticationTests {
    static let prefix = "0123456789ab"
    static let secret = String(repeating: "5e", count: 24)

    /// A registry with one lab and one key of its, issued by an operator; the key is revoked when asked.
    static func registry(revoked: Bool = false) throws -> (Registry, Party) {
        var world = World()
        let registryOperator = try world.party("Operator", .operator)
        let lab = try world.party("Lab", .modelLab, code: World.codes[0])
        try world.run(
            .issueAPIKey(party: lab.id, prefix: prefix, secretHash: APIKey.secretHash(of: secret), label: "test"), by: registryOperator)
        if revoked { try world.run(.revokeAPIKey(prefix: prefix), by: registryOperator) }
        return (Registry(state: world.state), lab)
    }

    static func authenticate(_ token: String, in registry: Registry) -> Party? {
        registry.authenticate(token: token[...].utf8)
    }

    @Test func theRightKeyAuthenticatesItsParty() throws {
        let (registry, lab) = try Self.registry()
        #expect(Self.authenticate("drk_\(Self.prefix)_\(Self.secret)", in: registry) == lab)
        // A token cut from a longer header, as the middleware passes it.
        let header = "Bearer drk_\(Self.prefix)_\(Self.secret)"
        #expect(registry.authenticate(token: header.utf8.dropFirst("Bearer ".utf8.count)) == lab)
    }

    @Test func aWrongSecretAuthenticatesNobody() throws {
        let (registry, _) = try Self.registry()
        let lastChanged = String(Self.secret.dropLast()) + "f"
        for secret in [lastChanged, String(Self.secret.dropLast()), Self.secret + "0", Self.secret.uppercased(), "x"] {
            #expect(Self.authenticate("drk_\(Self.prefix)_\(secret)", in: registry) == nil, "\(secret)")
        }
    }

    @Test func aRevokedKeyAuthenticatesNobody() throws {
        let (registry, _) = try Self.registry(revoked: true)
        #expect(Self.authenticate("drk_\(Self.prefix)_\(Self.secret)", in: registry) == nil)
    }

    @Test func anUnknownPrefixAuthenticatesNobody() throws {
        let (registry, _) = try Self.registry()
        #expect(Self.authenticate("drk_ba9876543210_\(Self.secret)", in: registry) == nil)
        #expect(Self.authenticate("drk_\(Self.prefix.dropLast())_\(Self.secret)", in: registry) == nil)
    }

    @Test func aMalformedTokenAuthenticatesNobody() throws {
        let (registry, _) = try Self.registry()
        for token in [
            "", "drk_", "drk__\(Self.secret)", "drk_\(Self.prefix)_", "drk_\(Self.prefix)\(Self.secret)",
            "DRK_\(Self.prefix)_\(Self.secret)", "\(Self.prefix)_\(Self.secret)",
        ] {
            #expect(Self.authenticate(token, in: registry) == nil, "\(token)")
        }
    }

    @Test func aStoredHashIsTheSecretsSHA256InLowercaseHex() {
        // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        #expect(APIKey.secretHash(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}

import Crypto

/// API-key authentication: a bearer token `drk_<prefix>_<secret>` names its key by the prefix, and proves
/// itself by the secret, of which the core keeps only the SHA-256 (``APIKey/secretHash``). It lives in the
/// core because it reads nothing but the core's keys and parties: no database round trip per request.
extension Registry {
    /// The party `token` belongs to, when its key exists, is not revoked and its stored hash is the
    /// secret's SHA-256; nil otherwise, whatever was wrong, so that a refusal says nothing about which part
    /// failed. Do not use it to look a key up by prefix (``RegistryState/apiKey(prefix:)`` does that).
    ///
    /// This runs on every authenticated request, so it reads the token's bytes in place and makes no
    /// string but the prefix (12 hex digits: a small string, stored inline). The secret is hashed before
    /// the read lock is taken, and the lock is held for two lookups and a 32-byte compare. Measured under
    /// valgrind in a release build: two small heap blocks an authentication, swift-crypto's hasher context
    /// (128 bytes) and its generic `Digest ==` (40 bytes), as many as the hex compare it replaced made.
    public func authenticate(token: Substring.UTF8View) -> Party? {
        guard token.starts(with: "drk_".utf8) else { return nil }
        let rest = token.dropFirst(4)
        guard let separator = rest.firstIndex(of: UInt8(ascii: "_")) else { return nil }
        let prefix = rest[..<separator]
        let secret = rest[rest.index(after: separator)...]
        guard !prefix.isEmpty, !secret.isEmpty else { return nil }
        let digest = secret.withContiguousStorageIfAvailable { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
            ?? SHA256.hash(data: Array(secret))
        return read { state in state.party(presentingKey: String(Substring(prefix)), secretDigest: digest) }
    }
}

extension RegistryState {
    /// The party of the unrevoked key with `prefix` whose stored hash is `digest`. Reads only the public
    /// lookups, so it holds whatever shape the key and party tables take.
    func party(presentingKey prefix: String, secretDigest digest: SHA256Digest) -> Party? {
        guard let key = apiKey(prefix: prefix), key.revokedAt == nil, APIKey.secretHash(key.secretHash, is: digest) else { return nil }
        return party(key.party)
    }
}

extension APIKey {
    /// The form a secret is stored in (``secretHash``): its SHA-256 as lowercase hex. The store hashes a
    /// new key's secret with it, so that issuing and authenticating cannot disagree.
    public static func secretHash(of secret: String) -> String {
        Array(SHA256.hash(data: Array(secret.utf8))).hexString
    }

    /// True when `stored`, 64 lowercase hex digits, is `digest`. The stored hex is decoded into 32 bytes on
    /// the stack and compared with swift-crypto's `Digest == DataProtocol`, which takes constant time, so
    /// that response timing says nothing about how much of a presented secret's hash matched. Decoding
    /// branches on the stored digits only, never on the presented secret. Anything but 64 lowercase hex
    /// digits matches nothing, as when the hex strings themselves were compared.
    static func secretHash(_ stored: String, is digest: SHA256Digest) -> Bool {
        var stored = stored
        var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        return stored.withUTF8 { hex in
            guard hex.count == 2 * SHA256Digest.byteCount else { return false }
            return withUnsafeMutableBytes(of: &bytes) { bytes in
                for index in 0..<SHA256Digest.byteCount {
                    guard let high = nibble(hex[2 * index]), let low = nibble(hex[2 * index + 1]) else { return false }
                    bytes[index] = high << 4 | low
                }
                return digest == UnsafeRawBufferPointer(bytes)
            }
        }
    }

    /// A lowercase hex digit's value.
    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

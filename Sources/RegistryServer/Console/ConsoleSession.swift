import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// The console's cookies and its CSRF tokens. Stateless: the session cookie holds the API key itself
/// (HttpOnly, SameSite=Strict, Path=/console, a bounded Max-Age, Secure over HTTPS), and every form's
/// `csrf` field is an HMAC-SHA256, under a secret made at random for this process, of the cookie it
/// goes with: the key for a signed-in form, a random pre-session value (a cookie of its own) for the
/// sign-in form — a signed double submit. Another site can make a browser send the cookies (SameSite
/// already stops that in current browsers) but cannot read them, so it cannot make the field.
///
/// A restart makes a new secret: open forms must be loaded again, and signed-in browsers stay signed in.
struct ConsoleSession: Sendable {
    static let keyCookie = "datarights_console"
    static let preSessionCookie = "datarights_console_pre"
    /// How long a sign-in lasts: 8 hours.
    static let maxAgeSeconds = 8 * 3600
    /// How long the sign-in form may stay open: 1 hour.
    static let preSessionMaxAgeSeconds = 3600
    /// An API key is `drk_<prefix>_<secret>`; anything longer than this in a cookie or a form is not one.
    static let maxKeyBytes = 256

    /// The HMAC key's bytes (a `SymmetricKey` is made from them per token: the type is not `Sendable`).
    private let secret: [UInt8]
    /// `Secure` on every cookie, whatever the request says (a deployment behind TLS says so once).
    let alwaysSecure: Bool

    init(alwaysSecure: Bool = false, secret: [UInt8] = ConsoleSession.randomBytes()) {
        self.secret = secret
        self.alwaysSecure = alwaysSecure
    }

    // MARK: Reading the request

    /// The API key of the signed-in browser, if its cookie holds something shaped like one.
    func key(in request: Request) -> String? {
        guard let value = request.cookies[Self.keyCookie]?.value, Self.isKeyShaped(value) else { return nil }
        return value
    }

    func preSession(in request: Request) -> String? {
        guard let value = request.cookies[Self.preSessionCookie]?.value, value.utf8.count == 43 else { return nil }
        return value
    }

    /// Bytes an API key may be made of (`drk_`, then base64url-like text): also what a cookie may hold
    /// unquoted, so the key is written as it is.
    static func isKeyShaped(_ text: String) -> Bool {
        (8...maxKeyBytes).contains(text.utf8.count) && text.hasPrefix("drk_")
            && text.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x5F
            }
    }

    /// The request came over HTTPS (as the proxy in front says), or the deployment is always behind TLS.
    func isSecure(_ request: Request) -> Bool {
        alwaysSecure || request.head.scheme == "https" || request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
    }

    // MARK: CSRF tokens

    /// The token of a signed-in form: bound to the key in the session cookie.
    func csrfToken(forKey key: String) -> String { token("session", key) }

    /// The token of the sign-in form: bound to the pre-session cookie.
    func csrfToken(forPreSession value: String) -> String { token("pre-session", value) }

    /// True when `presented` is the token for `value`, compared in constant time.
    func accepts(_ presented: String?, forKey key: String) -> Bool { matches(presented, token("session", key)) }

    func accepts(_ presented: String?, forPreSession value: String) -> Bool { matches(presented, token("pre-session", value)) }

    private func token(_ purpose: String, _ value: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(purpose)\u{0}\(value)".utf8), using: SymmetricKey(data: secret))
        return Self.base64url(Data(mac))
    }

    private func matches(_ presented: String?, _ expected: String) -> Bool {
        guard let presented else { return false }
        let a = Array(presented.utf8)
        let b = Array(expected.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// A new random pre-session value: 32 bytes, base64url without padding (43 characters).
    static func newPreSession() -> String {
        Self.base64url(Data(randomBytes()))
    }

    /// 32 bytes from the system's random number generator.
    static func randomBytes() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    static func base64url(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    // MARK: Set-Cookie

    /// `Set-Cookie` for the signed-in key.
    func signInCookie(_ key: String, secure: Bool) -> String {
        Self.cookie(Self.keyCookie, key, maxAge: Self.maxAgeSeconds, secure: secure)
    }

    /// `Set-Cookie` that clears the key (sign-out, or a key the API no longer accepts).
    func signOutCookie(secure: Bool) -> String { Self.cookie(Self.keyCookie, "", maxAge: 0, secure: secure) }

    func preSessionCookie(_ value: String, secure: Bool) -> String {
        Self.cookie(Self.preSessionCookie, value, maxAge: Self.preSessionMaxAgeSeconds, secure: secure)
    }

    func clearPreSessionCookie(secure: Bool) -> String { Self.cookie(Self.preSessionCookie, "", maxAge: 0, secure: secure) }

    private static func cookie(_ name: String, _ value: String, maxAge: Int, secure: Bool) -> String {
        "\(name)=\(value); Path=/console; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }
}

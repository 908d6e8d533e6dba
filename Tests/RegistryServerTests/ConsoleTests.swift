import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import RegistryCore
@testable import RegistryServer
import RegistryStore
import Testing

/// The web console (`/console`) over a live server and the real PostgreSQL: the session cookie's
/// attributes, CSRF refusals, signed-out redirects, pages by party kind, the API's problems shown on the
/// page with their status, another lab's grant as a 403 page, and user data escaped. The console calls
/// the API in process, so these tests drive it as a browser would: forms and cookies.
@Suite(.serialized) struct ConsoleTests {
    /// A browser of the console: its cookies, and the pages it gets.
    struct Browser {
        let client: any TestClientProtocol
        var cookies: [String: String] = [:]
        var forwardedProto: String?

        struct Page {
            let status: HTTPResponse.Status
            let headers: HTTPFields
            let html: String

            var setCookies: [String] { headers[values: .setCookie] }
            var location: String? { headers[.location] }
            /// The first form's CSRF token on the page.
            var csrf: String? {
                guard let range = html.range(of: #"name="csrf" value="([^"]*)""#, options: .regularExpression) else { return nil }
                return String(html[range].dropFirst(#"name="csrf" value=""#.count).dropLast())
            }
        }

        init(_ client: any TestClientProtocol) {
            // Console pages are not API operations: they are not held to the OpenAPI document.
            self.client = (client as? ContractCheckedClient)?.base ?? client
        }

        mutating func get(_ path: String) async throws -> Page {
            try await send(.get, path, body: nil)
        }

        mutating func post(_ path: String, _ form: [String: String]) async throws -> Page {
            let body = form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
            return try await send(.post, path, body: body)
        }

        private mutating func send(_ method: HTTPRequest.Method, _ path: String, body: String?) async throws -> Page {
            var headers: HTTPFields = [:]
            if !cookies.isEmpty { headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
            if body != nil { headers[.contentType] = "application/x-www-form-urlencoded" }
            if let forwardedProto { headers[HTTPField.Name("X-Forwarded-Proto")!] = forwardedProto }
            let page = try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
                Page(status: response.status, headers: response.headers, html: String(buffer: response.body))
            }
            for cookie in page.setCookies {
                let pair = cookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(pair[0])
                let value = pair.count > 1 ? String(pair[1]) : ""
                if value.isEmpty || cookie.contains("Max-Age=0") { cookies[name] = nil } else { cookies[name] = value }
            }
            return page
        }

        /// Signs in with `key` through the form; the page after the sign-in's redirect.
        mutating func signIn(_ key: String) async throws -> Page {
            let form = try await get("/console/sign-in")
            let csrf = try #require(form.csrf)
            return try await post("/console/sign-in", ["csrf": csrf, "key": key])
        }
    }

    static func withConsole(function: String = #function, _ test: @escaping @Sendable (RegistryScenarioTests.Cast, RegistryService) async throws -> Void) async throws {
        try await RegistryScenarioTests.withCast(test, function: function)
    }

    @Test func signInKeepsTheKeyInAStrictHttpOnlyCookieAndSignOutClearsIt() async throws {
        try await Self.withConsole { cast, _ in
            var browser = Browser(cast.api.client)
            let form = try await browser.get("/console/sign-in")
            #expect(form.status == .ok)
            #expect(form.headers[.contentType] == "text/html; charset=utf-8")
            let preSession = try #require(form.setCookies.first { $0.hasPrefix("datarights_console_pre=") })
            #expect(preSession.contains("HttpOnly") && preSession.contains("SameSite=Strict") && preSession.contains("Path=/console"))
            #expect(form.html.contains(#"type="password""#) && form.html.contains(#"autocomplete="off""#))

            // A key the API does not accept: the form again, 401, the key not echoed, no session.
            let wrong = "drk_000000000000_wrongsecretwrongsecret"
            let refused = try await browser.post("/console/sign-in", ["csrf": try #require(form.csrf), "key": wrong])
            #expect(refused.status == .unauthorized)
            #expect(!refused.html.contains(wrong))
            #expect(browser.cookies["datarights_console"] == nil)

            let key = try #require(cast.keys["registrar"])
            let signedIn = try await browser.post("/console/sign-in", ["csrf": try #require(form.csrf), "key": key])
            #expect(signedIn.status == .seeOther)
            #expect(signedIn.location == "/console")
            let session = try #require(signedIn.setCookies.first { $0.hasPrefix("datarights_console=") })
            #expect(session == "datarights_console=\(key); Path=/console; Max-Age=28800; HttpOnly; SameSite=Strict")
            #expect(!session.contains("Secure"), "the local demo is http")
            let home = try await browser.get("/console")
            #expect(home.status == .ok)
            #expect(home.html.contains("Data Registration Centre"))
            #expect(home.headers[.cacheControl] == "no-store")
            #expect(home.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
            #expect(home.headers[HTTPField.Name("Referrer-Policy")!] == "same-origin")
            #expect(home.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("default-src 'self'") == true)

            let signOut = try await browser.post("/console/sign-out", ["csrf": try #require(home.csrf)])
            #expect(signOut.status == .seeOther)
            #expect(signOut.location == "/console/sign-in")
            #expect(signOut.setCookies.contains("datarights_console=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict"))
            #expect(try await browser.get("/console").status == .seeOther)

            // Over HTTPS (as the proxy in front says) every cookie is Secure.
            var secure = Browser(cast.api.client)
            secure.forwardedProto = "https"
            let secureForm = try await secure.get("/console/sign-in")
            #expect(secureForm.setCookies.allSatisfy { $0.hasSuffix("; Secure") })
            let secureSignIn = try await secure.post("/console/sign-in", ["csrf": try #require(secureForm.csrf), "key": key])
            #expect(secureSignIn.setCookies.first { $0.hasPrefix("datarights_console=") }?.hasSuffix("; Secure") == true)
        }
    }

    @Test func aSignedOutBrowserIsSentToTheSignInForm() async throws {
        try await Self.withConsole { cast, _ in
            var browser = Browser(cast.api.client)
            for path in ["/console", "/console/datasets", "/console/datasets/1", "/console/registrar", "/console/grants/GR-2026-000001", "/console/audit"] {
                let page = try await browser.get(path)
                #expect(page.status == .seeOther, "\(path)")
                #expect(page.location == "/console/sign-in", "\(path)")
            }
            // A cookie holding a key the API no longer accepts is cleared on the way.
            browser.cookies["datarights_console"] = "drk_000000000000_revokedrevokedrevoked"
            let page = try await browser.get("/console/datasets")
            #expect(page.status == .seeOther)
            #expect(page.setCookies.contains { $0.hasPrefix("datarights_console=;") && $0.contains("Max-Age=0") })
        }
    }

    /// CSRF: a post without the form's token is refused with the 403 page and changes nothing (R4's review
    /// not started), sign-in and sign-out included.
    @Test func R4_aFormPostWithoutItsCSRFTokenIsRefusedAndChangesNothing() async throws {
        try await Self.withConsole { cast, registry in
            let ministry = cast.as("ministry")
            let dataset = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Bridge inspections")).int("id"))
            let number = try #require(try await ministry.post("/v1/registrations", Fixture.claim(dataset)).string("number"))

            var browser = Browser(cast.api.client)
            // Sign-in without the pre-session cookie's token, and with a token of another pre-session.
            #expect(try await browser.post("/console/sign-in", ["key": try #require(cast.keys["registrar"])]).status == .forbidden)
            var other = Browser(cast.api.client)
            let otherToken = try #require(try await other.get("/console/sign-in").csrf)
            _ = try await browser.get("/console/sign-in")
            #expect(try await browser.post("/console/sign-in", ["csrf": otherToken, "key": try #require(cast.keys["registrar"])]).status == .forbidden)
            #expect(browser.cookies["datarights_console"] == nil)

            _ = try await browser.signIn(try #require(cast.keys["registrar"]))
            let digest = registry.registry.read { $0.digest }
            for token in [nil, "", "forged", String(repeating: "A", count: 43)] {
                var form: [String: String] = [:]
                if let token { form["csrf"] = token }
                let refused = try await browser.post("/console/registrar/registrations/\(number)/review", form)
                #expect(refused.status == .forbidden)
                #expect(refused.html.contains("Forbidden"))
                #expect(try await browser.post("/console/sign-out", form).status == .forbidden)
            }
            #expect(registry.registry.read { $0.digest } == digest)
            #expect(try await cast.as("registrar").get("/v1/registrations/\(number)").string("status") == "submitted")
            #expect(browser.cookies["datarights_console"] != nil, "a refused sign-out leaves the session")

            // With its token the same post is the API's review (R4), then Post/Redirect/Get.
            let queue = try await browser.get("/console/registrar")
            let reviewed = try await browser.post("/console/registrar/registrations/\(number)/review", ["csrf": try #require(queue.csrf)])
            #expect(reviewed.status == .seeOther)
            #expect(reviewed.location == "/console/registrar?done=review&item=\(number)")
            #expect(try await cast.as("registrar").get("/v1/registrations/\(number)").string("status") == "under_review")
        }
    }

    /// A form post the API refuses shows the API's problem on the page, next to the field it names, with
    /// the API's status; nothing changes (R4: a decision names accept or refuse).
    @Test func R4_aFormPostTheAPIRefusesShowsItsProblemNextToTheField() async throws {
        try await Self.withConsole { cast, _ in
            let ministry = cast.as("ministry")
            let registrar = cast.as("registrar")
            let dataset = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Tunnel sensors")).int("id"))
            let number = try #require(try await ministry.post("/v1/registrations", Fixture.claim(dataset)).string("number"))
            #expect(try await registrar.post("/v1/registrations/\(number)/review").status == .ok)

            var browser = Browser(cast.api.client)
            _ = try await browser.signIn(try #require(cast.keys["registrar"]))
            let queue = try await browser.get("/console/registrar")
            #expect(queue.html.contains(#"id="item-\#(number)""#))
            let csrf = try #require(queue.csrf)
            // No decision chosen: the API's 400 names `decision`, shown at the decision field of this item.
            let page = try await browser.post("/console/registrar/registrations/\(number)/decision", ["csrf": csrf, "decision": "", "reason": ""])
            #expect(page.status == .badRequest)
            #expect(page.html.contains(#"<p class="error" id="decision-\#(number)-error">is required</p>"#), "\(page.html)")
            #expect(page.html.contains(#"aria-invalid="true""#))
            #expect(try await registrar.get("/v1/registrations/\(number)").string("status") == "under_review")

            // The registrar's dataset filter refused by the API: 400, the reason at its field.
            let search = try await browser.get("/console/datasets?grade=precious")
            #expect(search.status == .badRequest)
            #expect(search.html.contains(#"id="field-grade-error""#))

            // Accepted: 303 to the queue, which now lists the claim in public notice.
            let accepted = try await browser.post("/console/registrar/registrations/\(number)/decision", ["csrf": csrf, "decision": "accept"])
            #expect(accepted.status == .seeOther)
            #expect(try await registrar.get("/v1/registrations/\(number)").string("status") == "public_notice")
        }
    }

    /// Each page answers 200 text/html to the party kinds it is for and the 403 page to the others.
    @Test func eachPageAnswersItsPartyKindsAndRefusesTheOthers() async throws {
        try await Self.withConsole { cast, _ in
            let pages: [(path: String, kinds: Set<String>)] = [
                ("/console", ["ministry", "enterprise", "lab", "registrar", "regulator"]),
                ("/console/datasets", ["ministry", "enterprise", "lab", "registrar", "regulator"]),
                ("/console/registrar", ["registrar"]),
                ("/console/holdings", ["ministry", "enterprise"]),
                ("/console/grants", ["lab"]),
                ("/console/compliance", ["regulator"]),
                ("/console/compliance/missing-records", ["regulator"]),
                ("/console/compliance/overdue-sharing", ["regulator"]),
                ("/console/statistics", ["regulator"]),
                ("/console/audit", ["regulator"]),
            ]
            for party in ["ministry", "enterprise", "lab", "registrar", "regulator"] {
                var browser = Browser(cast.api.client)
                _ = try await browser.signIn(try #require(cast.keys[party]))
                for page in pages {
                    let answer = try await browser.get(page.path)
                    let expected: HTTPResponse.Status = page.kinds.contains(party) ? .ok : .forbidden
                    #expect(answer.status == expected, "\(party) \(page.path): \(answer.status)")
                    #expect(answer.headers[.contentType] == "text/html; charset=utf-8", "\(party) \(page.path)")
                    #expect(answer.html.hasPrefix("<!DOCTYPE html>"), "\(party) \(page.path)")
                }
                // A regulator's CSV download is the API's CSV as an attachment; others get the 403 page.
                let download = try await browser.get("/console/compliance/missing-records/csv")
                if party == "regulator" {
                    #expect(download.status == .ok)
                    #expect(download.headers[.contentType] == "text/csv; charset=utf-8")
                    #expect(download.headers[.contentDisposition] == "attachment; filename=\"missing-records.csv\"")
                    #expect(download.html.hasPrefix(CSV.columns(of: MissingRecordRow.self).joined(separator: ",") + "\r\n"), "\(download.html.prefix(200))")
                } else {
                    #expect(download.status == .forbidden)
                }
                let missing = try await browser.get("/console/nothing-here")
                #expect(missing.status == .notFound)
                #expect(missing.headers[.contentType] == "text/html; charset=utf-8")
            }
        }
    }

    /// R23: a lab's grant page is the assignee's; another lab gets the 403 page, the same one as for a
    /// grant that does not exist, so it learns nothing.
    @Test func R23_aLabCannotOpenAnotherLabsGrantPage() async throws {
        try await Self.withConsole { cast, _ in
            let enterprise = cast.as("enterprise")
            let lab = cast.as("lab")
            let admin = cast.api.as_(cast.operatorKey)
            let dataset = try #require(try await enterprise.post("/v1/datasets", Fixture.dataset("Retail baskets", government: false)).int("id"))
            #expect(try await enterprise.call(.put, "/v1/datasets/\(dataset)/policy", AccessScenarioTests.policy(purposes: ["model_training"])).status == .ok)
            let request = try await lab.post(
                "/v1/access-requests", ["dataset": dataset, "purpose": "model_training", "tokens": 5_000_000, "validUntil": "2030-01-01T00:00:00Z"])
            let grant = try #require((request["grant"] as? [String: Any])?["number"] as? String, "\(request.text)")
            let other = try #require(try await admin.post("/v1/parties", Fixture.party("Other Model Lab", "model_lab", code: CreditCode.make(organisation: 4242))).int("id"))
            let otherKey = try #require(try await admin.post("/v1/parties/\(other)/keys", ["label": "other"]).string("token"))

            var owner = Browser(cast.api.client)
            _ = try await owner.signIn(try #require(cast.keys["lab"]))
            let own = try await owner.get("/console/grants/\(grant)")
            #expect(own.status == .ok)
            #expect(own.html.contains("5,000,000") || own.html.contains("5000000"))
            #expect(own.html.contains("<svg"))
            // The dataset's policy as ODRL, linked from its page: the API's document passed on.
            let odrl = try await owner.get("/console/datasets/\(dataset)/policy.jsonld")
            #expect(odrl.status == .ok)
            #expect(odrl.headers[.contentType] == "application/ld+json; charset=utf-8")
            #expect(odrl.html.contains("http://www.w3.org/ns/odrl.jsonld"))

            var stranger = Browser(cast.api.client)
            _ = try await stranger.signIn(otherKey)
            let foreign = try await stranger.get("/console/grants/\(grant)")
            let missing = try await stranger.get("/console/grants/GR-2026-999999")
            #expect(foreign.status == .forbidden)
            #expect(missing.status == .forbidden)
            func withoutRequestIDs(_ html: String) -> String {
                html.replacingOccurrences(of: #"request id \S+"#, with: "", options: .regularExpression)
            }
            #expect(withoutRequestIDs(foreign.html) == withoutRequestIDs(missing.html))
            #expect(!foreign.html.contains("Retail baskets"))
            let list = try await stranger.get("/console/grants")
            #expect(list.status == .ok)
            #expect(!list.html.contains(grant))
        }
    }

    /// Text from users is escaped wherever a page shows it: tables, headings, the lineage picture.
    @Test func userDataIsEscapedOnEveryPageThatShowsIt() async throws {
        try await Self.withConsole { cast, _ in
            let ministry = cast.as("ministry")
            let hostile = #"<script>alert("x")</script> & <img src=x onerror=alert(1)>"#
            let source = try #require(try await ministry.post("/v1/datasets", Fixture.dataset(hostile)).int("id"))
            let derived = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("Derived \(hostile)")).int("id"))
            let recorded = try await ministry.post("/v1/datasets/\(derived)/lineage", ["sources": [["dataset": source, "kind": "aggregated"]]])
            #expect(recorded.status == .created, "\(recorded.text)")

            var browser = Browser(cast.api.client)
            _ = try await browser.signIn(try #require(cast.keys["regulator"]))
            for path in ["/console/datasets?q=script", "/console/datasets/\(source)", "/console/datasets/\(derived)"] {
                let page = try await browser.get(path)
                #expect(page.status == .ok, "\(path)")
                #expect(!page.html.contains("<script"), "\(path)")
                #expect(!page.html.contains("<img"), "\(path)")
                #expect(page.html.contains("&lt;script&gt;"), "\(path)")
            }
            // The lineage picture draws both, each a link to its page, titles escaped.
            let page = try await browser.get("/console/datasets/\(derived)")
            #expect(page.html.contains(#"data-dataset-id="\#(source)""#))
            #expect(page.html.contains(#"data-dataset-id="\#(derived)""#))
        }
    }
}

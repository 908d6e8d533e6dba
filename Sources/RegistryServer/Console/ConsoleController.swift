import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// The web console at `/console`: server-rendered HTML for people, a client of the JSON API in process.
/// Each page asks the API, as the signed-in party (its key from the session cookie), through the router
/// without a network (``ConsoleAPI``), decodes the JSON and renders a template; each form post is the
/// same API call, its problem shown on the page with its status, its success a 303 (Post/Redirect/Get).
/// So the console shows exactly what the party may see through the API and holds no rule of its own;
/// which pages a party kind is offered (``ConsoleSection``) is its only choice.
///
/// Mounted by `buildRouter` outside `/v1`; not part of the OpenAPI document, which describes the API.
struct ConsoleController: Sendable {
    /// The router's in-process client, set once every route is added (the console's own routes are part
    /// of the router it calls, so it cannot be made before them).
    final class ClientSlot: Sendable {
        private let client = Mutex<InProcessRequest?>(nil)

        func set(_ value: InProcessRequest) { client.withLock { $0 = value } }

        var value: InProcessRequest {
            guard let value = client.withLock({ $0 }) else { preconditionFailure("the console's API client is set by buildRouter") }
            return value
        }
    }

    let slot = ClientSlot()
    let session: ConsoleSession
    let renderer: ConsoleRenderer

    init(session: ConsoleSession = ConsoleSession(), renderer: ConsoleRenderer = .embedded) {
        self.session = session
        self.renderer = renderer
    }

    func routes(_ router: Router<AppRequestContext>) {
        let console = router.group("console")
        console.get { request, context in await home(request, context) }
        console.get("assets/console.css") { _, _ in renderer.stylesheetResponse() }
        console.get("sign-in") { request, _ in signInForm(request) }
        console.post("sign-in") { request, context in await signIn(request, context) }
        console.post("sign-out") { request, context in await signOut(request, context) }
        CatalogPages(console: self).routes(console)
        RegistrarPages(console: self).routes(console)
        HoldingsPages(console: self).routes(console)
        GrantPages(console: self).routes(console)
        RegulatorPages(console: self).routes(console)
        // Anything else under /console is a 404 page, not the API's problem+json.
        console.get("**") { request, context in await notFound(request, context) }
        console.post("**") { request, context in await notFound(request, context) }
    }

    // MARK: Signing in and out

    func signInForm(_ request: Request, status: HTTPResponse.Status = .ok, message: String? = nil) -> Response {
        let secure = session.isSecure(request)
        let existing = session.preSession(in: request)
        let preSession = existing ?? ConsoleSession.newPreSession()
        let model = ConsolePage(
            chrome: .signedOut("Sign in"),
            content: SignInView(csrf: session.csrfToken(forPreSession: preSession), signInMessage: message))
        return renderer.page("sign-in", model, status: status, cookies: existing == nil ? [session.preSessionCookie(preSession, secure: secure)] : [])
    }

    /// Checks the pre-session token, then the key (`GET /v1/me` in process): a key the API accepts is
    /// kept in the session cookie; any other is the form again with 401, the key not echoed.
    func signIn(_ request: Request, _ context: AppRequestContext) async -> Response {
        let secure = session.isSecure(request)
        guard let form = try? await ConsoleForm.read(request), let preSession = session.preSession(in: request),
            session.accepts(form["csrf"], forPreSession: preSession)
        else {
            return forbidden(chrome: .signedOut("Forbidden"), detail: "the form was not sent from this console's sign-in page, or it expired: load the page again")
        }
        guard let key = form.text("key"), ConsoleSession.isKeyShaped(key) else {
            return signInForm(request, status: .unauthorized, message: "That is not an API key: a key starts with drk_.")
        }
        let api = ConsoleAPI(client: slot.value, key: key, requestID: context.requestID)
        do {
            let answer = try await api.get("me")
            guard answer.isSuccess else {
                let message = answer.status == .unauthorized
                    ? "The registry does not accept this key: it may be mistyped or revoked."
                    : "The key could not be checked (\(answer.status.code) \(APIProblem(answer).title)); try again."
                return signInForm(request, status: answer.status == .unauthorized ? .unauthorized : answer.status, message: message)
            }
        } catch {
            return serverError(chrome: .signedOut("Error"), error, context)
        }
        return ConsoleRenderer.redirect(
            to: "/console", cookies: [session.signInCookie(key, secure: secure), session.clearPreSessionCookie(secure: secure)])
    }

    func signOut(_ request: Request, _ context: AppRequestContext) async -> Response {
        let secure = session.isSecure(request)
        guard let key = session.key(in: request) else { return ConsoleRenderer.redirect(to: "/console/sign-in") }
        guard let form = try? await ConsoleForm.read(request), session.accepts(form["csrf"], forKey: key) else {
            return forbidden(chrome: .signedOut("Forbidden"), detail: "the form was not sent from this console, or the session changed: load the page again")
        }
        return ConsoleRenderer.redirect(to: "/console/sign-in", cookies: [session.signOutCookie(secure: secure)])
    }

    // MARK: Home and error pages

    func home(_ request: Request, _ context: AppRequestContext) async -> Response {
        await page(nil, request, context) { call in
            let sections = ConsoleSection.allCases.filter { $0.isFor(call.me.kind) }.map { HomeView.Link(href: $0.path, label: $0.label) }
            return call.render("home", title: "DataRights console", section: nil, HomeView(partyName: call.me.name, partyID: call.me.id, links: sections))
        }
    }

    func notFound(_ request: Request, _ context: AppRequestContext) async -> Response {
        guard session.key(in: request) != nil else {
            return errorPage(chrome: .signedOut("Not found"), ProblemView(status: 404, title: "Not found", detail: "There is no console page at this address."))
        }
        return await page(nil, request, context) { call in
            call.console.errorPage(chrome: call.chrome("Not found", nil), ProblemView(status: 404, title: "Not found", detail: "There is no console page at this address."))
        }
    }

    func errorPage(chrome: Chrome, _ problem: ProblemView) -> Response {
        renderer.page("error", ConsolePage(chrome: chrome, content: problem), status: HTTPResponse.Status(code: problem.status))
    }

    func forbidden(chrome: Chrome, detail: String) -> Response {
        errorPage(chrome: chrome, ProblemView(status: 403, title: "Forbidden", detail: detail))
    }

    func serverError(chrome: Chrome, _ error: any Error, _ context: AppRequestContext) -> Response {
        context.logger.error("Console page failed", metadata: ["error": "\(error)", "request.id": .string(context.requestID)])
        return errorPage(
            chrome: chrome,
            ProblemView(status: 500, title: "Internal error", detail: "The page could not be made; it has been logged with request id \(context.requestID)."))
    }

    // MARK: Signed-in pages and forms

    /// A signed-in page of `section`: the party from `GET /v1/me`, a 303 to the sign-in form without a
    /// session (or with a key the API no longer accepts), 403 when the page is not for its kind, and the
    /// API's problems as error pages with their status.
    func page(
        _ section: ConsoleSection?, _ request: Request, _ context: AppRequestContext, _ body: (ConsoleCall) async throws -> Response
    ) async -> Response {
        guard let key = session.key(in: request) else { return ConsoleRenderer.redirect(to: "/console/sign-in") }
        let api = ConsoleAPI(client: slot.value, key: key, requestID: context.requestID)
        let me: PartyView
        do {
            let answer = try await api.get("me")
            if answer.status == .unauthorized {
                return ConsoleRenderer.redirect(to: "/console/sign-in", cookies: [session.signOutCookie(secure: session.isSecure(request))])
            }
            me = try api.value(PartyView.self, answer)
        } catch let problem as APIProblem {
            return errorPage(chrome: .signedOut(problem.title), ProblemView(problem))
        } catch {
            return serverError(chrome: .signedOut("Error"), error, context)
        }
        let call = ConsoleCall(console: self, api: api, me: me, request: request, context: context, csrf: session.csrfToken(forKey: key))
        if let section, !section.isFor(me.kind) {
            return forbidden(chrome: call.chrome("Forbidden", nil), detail: "This page is not for \(me.kind.replacingOccurrences(of: "_", with: " ")) parties.")
        }
        do {
            return try await body(call)
        } catch let problem as APIProblem {
            return errorPage(chrome: call.chrome(problem.title, section), ProblemView(problem))
        } catch {
            return serverError(chrome: call.chrome("Error", section), error, context)
        }
    }

    /// A signed-in form post: the CSRF token checked (403 otherwise) before anything else is done.
    func form(
        _ section: ConsoleSection, _ request: Request, _ context: AppRequestContext, _ body: (ConsoleCall, ConsoleForm) async throws -> Response
    ) async -> Response {
        guard let key = session.key(in: request) else { return ConsoleRenderer.redirect(to: "/console/sign-in") }
        let form: ConsoleForm
        do {
            form = try await ConsoleForm.read(request)
        } catch let unreadable as ConsoleForm.Unreadable {
            return errorPage(chrome: .signedOut("Bad request"), ProblemView(status: 400, title: "Bad request", detail: unreadable.reason))
        } catch {
            return serverError(chrome: .signedOut("Error"), error, context)
        }
        guard session.accepts(form["csrf"], forKey: key) else {
            return forbidden(chrome: .signedOut("Forbidden"), detail: "The form was not sent from this console, or the session changed: load the page again.")
        }
        return await page(section, request, context) { call in try await body(call, form) }
    }
}

/// One signed-in request: the API as the party, the party, and how to render for it.
struct ConsoleCall: Sendable {
    let console: ConsoleController
    let api: ConsoleAPI
    let me: PartyView
    let request: Request
    let context: AppRequestContext
    let csrf: String

    func chrome(_ title: String, _ section: ConsoleSection?) -> Chrome {
        .signedIn(title, me: me, current: section, csrf: csrf)
    }

    func render<Content: Sendable>(
        _ template: String, title: String, section: ConsoleSection?, _ content: Content, status: HTTPResponse.Status = .ok
    ) -> Response {
        console.renderer.page(template, ConsolePage(chrome: chrome(title, section), content: content), status: status)
    }

    /// The page's own query, read as a GET form sends it (`+` for a space).
    var queryItems: ConsoleForm { ConsoleForm.parse(request.uri.query ?? "") }

    /// The query parameter `name` of the page's own address, trimmed; nil when absent or blank.
    func query(_ name: String) -> String? { queryItems.text(name) }
}

struct SignInView: Sendable {
    let csrf: String
    let signInMessage: String?
}

struct HomeView: Sendable {
    struct Link: Sendable {
        let href: String
        let label: String
    }
    let partyName: String
    let partyID: Int64
    let links: [Link]
}

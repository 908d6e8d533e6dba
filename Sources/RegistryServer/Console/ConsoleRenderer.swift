import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The console's templates (`Console/Templates/*.mustache`, embedded in the binary at build time by
/// EmbedFilesPlugin) and its stylesheet, and the HTML responses made with them. Every page is rendered
/// into the layout (`layout.mustache`, a parent template) from a view model; Mustache escapes every
/// `{{value}}`, and the only unescaped output (`{{{svg}}}`) is markup the server drew, whose text it
/// escaped itself (``HTML/escape(_:)``).
struct ConsoleRenderer: Sendable {
    let library: MustacheLibrary
    let stylesheet: [UInt8]

    /// The embedded templates, parsed once; a template that does not parse stops the process at start
    /// (a build that passed its tests cannot ship one).
    static let embedded: ConsoleRenderer = {
        var library = MustacheLibrary()
        var stylesheet: [UInt8] = []
        for file in EmbeddedConsole.files {
            guard let data = Data(base64Encoded: file.base64) else { preconditionFailure("\(file.name) was not embedded") }
            if file.name.hasSuffix(".mustache") {
                do {
                    try library.register(String(decoding: data, as: UTF8.self), named: String(file.name.dropLast(".mustache".count)))
                } catch {
                    preconditionFailure("console template \(file.name) does not parse: \(error)")
                }
            } else if file.name == "console.css" {
                stylesheet = [UInt8](data)
            }
        }
        return ConsoleRenderer(library: library, stylesheet: stylesheet)
    }()

    /// Headers on every console page: no framing, no referrer beyond this origin, no sniffing, a
    /// policy that allows only this origin's stylesheet and forms (no script at all), never cached.
    static let securityHeaders: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!:
            "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        .cacheControl: "no-store",
    ]

    /// `template` rendered with `model` into an HTML response.
    func page(_ template: String, _ model: Any, status: HTTPResponse.Status = .ok, cookies: [String] = []) -> Response {
        guard let html = library.render(model, withTemplate: template) else { preconditionFailure("no console template \(template)") }
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// 303 See Other to `location` (Post/Redirect/Get, and signed-out pages to the sign-in form).
    static func redirect(to location: String, cookies: [String] = []) -> Response {
        var headers = securityHeaders
        headers[.location] = location
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(status: .seeOther, headers: headers)
    }

    func stylesheetResponse() -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600", HTTPField.Name("X-Content-Type-Options")!: "nosniff"],
            body: .init(byteBuffer: ByteBuffer(bytes: stylesheet)))
    }
}

/// Escaping for markup the server writes itself (pictures): the five characters HTML and SVG give a
/// meaning to.
enum HTML {
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

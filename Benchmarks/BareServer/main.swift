// The baseline of the HTTP decision benchmark (Benchmarks/decisions-http.sh): the cheapest answer
// Hummingbird 2 can give on the same path as a decision, so that the decision rate can be read as a
// fraction of what the framework itself allows on this machine. No middleware, no authentication, no
// per-request allocation of the body: whatever remains is Hummingbird and NIO.
//
// Usage: BareServer [--port N]   (default 18081; listens on 127.0.0.1 only)

import Foundation
import Hummingbird
// Logging comes with Hummingbird (its `Application` takes a `Logger`); it is imported only to set the level.
import Logging

/// A usage error: said on standard error, exit status 2.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(2)
}

/// Reads `--port N` or `--port=N`; anything else on the command line is an error, not a silent default.
func parsePort(_ arguments: [String]) -> Int {
    var port = 18_081
    var index = 1
    while index < arguments.count {
        let argument = arguments[index]
        let value: String
        if argument == "--port", index + 1 < arguments.count {
            value = arguments[index + 1]
            index += 2
        } else if argument.hasPrefix("--port=") {
            value = String(argument.dropFirst("--port=".count))
            index += 1
        } else {
            fail("usage: BareServer [--port N]")
        }
        guard let parsed = Int(value), (1...65_535).contains(parsed) else {
            fail("BareServer: --port must be 1 to 65535, not \(value)")
        }
        port = parsed
    }
    return port
}

/// The same shape of answer as a short decision, built once.
let body = ByteBuffer(string: #"{"allow":true,"rule":"R20"}"#)

var logger = Logger(label: "BareServer")
logger.logLevel = .warning

let router = Router()
router.get("/v1/decisions") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
}

let app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: parsePort(CommandLine.arguments)), serverName: "BareServer"),
    logger: logger)
try await app.runService()

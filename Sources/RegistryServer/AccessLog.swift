import Foundation
import Hummingbird
import Logging

/// One log line per request, after it is answered (errors included, as their problem answers): request
/// id, method, path, status, duration.
enum AccessLog {
    static func record(_ request: Request, _ response: Response, context: AppRequestContext, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        context.logger.info(
            "Request",
            metadata: [
                "request.id": .string(context.requestID),
                "http.method": .string(request.method.rawValue),
                "http.path": .string(request.uri.path),
                "http.status": .stringConvertible(response.status.code),
                "duration_ms": .string(String(format: "%.2f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)),
            ])
    }
}

import Foundation
import Logging

/// Resolves a setting from its flag, then its environment variable, then its default: the order
/// operators expect (a flag on the command line beats the environment file).
enum Setting {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    static func string(_ flag: String?, env: String, default defaultValue: String) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let value = environment[env], !value.isEmpty { return value }
        return defaultValue
    }

    static func optionalString(_ flag: String?, env: String) -> String? {
        if let flag, !flag.isEmpty { return flag }
        if let value = environment[env], !value.isEmpty { return value }
        return nil
    }

    static func int(_ flag: Int?, env: String, default defaultValue: Int) throws -> Int {
        if let flag { return flag }
        guard let text = environment[env], !text.isEmpty else { return defaultValue }
        guard let value = Int(text) else { throw SettingError(message: "\(env)=\(text) is not a whole number") }
        return value
    }

    static func bool(_ flag: Bool, env: String) throws -> Bool {
        if flag { return true }
        guard let text = environment[env]?.lowercased(), !text.isEmpty else { return false }
        switch text {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw SettingError(message: "\(env)=\(text) is not true or false")
        }
    }

    static func logLevel(_ flag: String?) throws -> Logger.Level {
        let text = string(flag, env: "DATARIGHTS_LOG_LEVEL", default: "info")
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw SettingError(message: "log level \(text) is not one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }
}

struct SettingError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Process-wide logging: one line per event on standard error, at the configured level.
enum LoggingSetup {
    static func bootstrap(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in StandardErrorLogHandler(label: label, logLevel: level) }
        var logger = Logger(label: "datarights")
        logger.logLevel = level
        return logger
    }
}

/// Log lines on standard error, in the format of swift-log's `StreamLogHandler`
/// (`2026-11-29T10:00:00+0000 info datarights: key=value [module] message`), with its metadata formatted
/// only when a line is written. `StreamLogHandler` formats its metadata each time it changes, and the
/// HTTP server sets a request id on every request's logger: a cost on every request even when nothing
/// is logged at the configured level.
struct StandardErrorLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, logLevel: Logger.Level) {
        self.label = label
        self.logLevel = logLevel
        metadataProvider = LoggingSystem.metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, provided in provided } }
        if let explicit = event.metadata { all.merge(explicit) { _, explicit in explicit } }
        if let error = event.error {
            all["error.message"] = "\(error)"
            all["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        let rendered = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: " ")
        Self.write("\(Self.timestamp()) \(event.level) \(label):\(rendered) [\(event.source)] \(event.message)\n")
    }

    /// One `write` to file descriptor 2 per line, so that lines from different threads never interleave.
    private static func write(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }

    private static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        guard localtime_r(&now, &parts) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

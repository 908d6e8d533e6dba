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
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "datarights")
        logger.logLevel = level
        return logger
    }
}

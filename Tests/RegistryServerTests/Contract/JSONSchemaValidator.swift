import Foundation
import Synchronization

/// Checks a JSON value against a JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1), for the
/// keywords docs/openapi.yaml uses. A keyword it does not know is itself a violation, so that the
/// document cannot start relying on one that the check would silently skip.
///
/// One departure from the standard, on purpose: an object schema that lists `properties` and says
/// nothing of `additionalProperties` is closed. A response that sends a field the document does not
/// name (a renamed field, a leaked internal one) is drift; `additionalProperties: true` opens a schema.
/// Not for validating requests, where the server is the judge.
struct JSONSchemaValidator {
    /// One mismatch: where in the instance (a JSON pointer), which schema said so, and what is wrong.
    struct Violation: Equatable, CustomStringConvertible {
        let pointer: String
        let schemaPath: String
        let message: String

        var description: String { "at \(pointer.isEmpty ? "/" : pointer) (\(schemaPath)): \(message)" }
    }

    /// The document that `$ref`s point into.
    let root: JSONValue

    /// Keywords that only annotate: they never make a value invalid.
    static let annotations: Set<String> = [
        "description", "title", "examples", "example", "default", "deprecated", "readOnly", "writeOnly", "$comment",
        "externalDocs", "xml", "discriminator",
    ]

    /// Keywords this validator applies.
    static let assertions: Set<String> = [
        "$ref", "type", "enum", "const", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
        "uniqueItems", "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "oneOf", "anyOf", "allOf", "not", "format", "minProperties", "maxProperties",
    ]

    /// Nesting past this is a loop in the document, not data the server sends.
    static let maximumDepth = 128

    /// Every violation, in the order of their pointers.
    func validate(_ instance: JSONValue, against schema: JSONValue, schemaPath: String = "#") -> [Violation] {
        validate(instance, schema, pointer: "", schemaPath: schemaPath, depth: 0).sorted { ($0.pointer, $0.schemaPath) < ($1.pointer, $1.schemaPath) }
    }

    /// The schema a local `$ref` ("#/components/schemas/Party") names, or nil.
    func resolve(_ reference: String) -> JSONValue? {
        guard reference.hasPrefix("#") else { return nil }
        var node = root
        for token in reference.dropFirst().split(separator: "/", omittingEmptySubsequences: true) {
            let key = token.contains("~") ? token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~") : String(token)
            switch node {
            case .object(let members): guard let next = members[key] else { return nil }; node = next
            case .array(let elements): guard let index = Int(key), elements.indices.contains(index) else { return nil }; node = elements[index]
            default: return nil
            }
        }
        return node
    }

    private func validate(_ instance: JSONValue, _ schema: JSONValue, pointer: String, schemaPath: String, depth: Int) -> [Violation] {
        func violation(_ keyword: String, _ message: String) -> Violation {
            Violation(pointer: pointer, schemaPath: "\(schemaPath)/\(keyword)", message: message)
        }
        guard depth < Self.maximumDepth else { return [violation("$ref", "schemas nest deeper than \(Self.maximumDepth)")] }
        switch schema {
        case .bool(true): return []
        case .bool(false): return [Violation(pointer: pointer, schemaPath: schemaPath, message: "no value is allowed here")]
        case .object: break
        default: return [Violation(pointer: pointer, schemaPath: schemaPath, message: "the schema is not an object or a boolean")]
        }
        let keywords = schema.object ?? [:]
        var violations: [Violation] = []
        for keyword in keywords.keys where !Self.assertions.contains(keyword) && !Self.annotations.contains(keyword) && !keyword.hasPrefix("x-") {
            violations.append(violation(keyword, "the contract check does not support the keyword \(keyword)"))
        }

        if let reference = keywords["$ref"]?.string {
            if let target = resolve(reference) {
                violations += validate(instance, target, pointer: pointer, schemaPath: reference, depth: depth + 1)
            } else {
                violations.append(violation("$ref", "\(reference) does not resolve"))
            }
        }
        if let type = keywords["type"] {
            let allowed = type.array?.compactMap(\.string) ?? type.string.map { [$0] } ?? []
            let actual = instance.typeName
            if !allowed.contains(actual) && !(actual == "integer" && allowed.contains("number")) {
                violations.append(violation("type", "expected \(allowed.joined(separator: " or ")), got \(actual) \(instance.excerpt)"))
                return violations  // the other keywords would only repeat the mismatch
            }
        }
        if let options = keywords["enum"]?.array, !options.contains(where: { instance.isSameJSON(as: $0) }) {
            violations.append(violation("enum", "\(instance.excerpt) is not one of \(options.map(\.excerpt).joined(separator: ", "))"))
        }
        if let constant = keywords["const"], !instance.isSameJSON(as: constant) {
            violations.append(violation("const", "\(instance.excerpt) is not \(constant.excerpt)"))
        }
        violations += validateCombinations(instance, keywords, pointer: pointer, schemaPath: schemaPath, depth: depth)
        switch instance {
        case .object(let members):
            violations += validateObject(members, keywords, pointer: pointer, schemaPath: schemaPath, depth: depth)
        case .array(let elements):
            violations += validateArray(elements, keywords, pointer: pointer, schemaPath: schemaPath, depth: depth)
        case .string(let text):
            violations += validateString(text, keywords).map { violation($0, $1) }
        case .integer, .number:
            violations += validateNumber(instance, keywords).map { violation($0, $1) }
        default:
            break
        }
        return violations
    }

    private func validateCombinations(
        _ instance: JSONValue, _ keywords: [String: JSONValue], pointer: String, schemaPath: String, depth: Int
    ) -> [Violation] {
        var violations: [Violation] = []
        for (index, branch) in (keywords["allOf"]?.array ?? []).enumerated() {
            violations += validate(instance, branch, pointer: pointer, schemaPath: "\(schemaPath)/allOf/\(index)", depth: depth + 1)
        }
        for keyword in ["oneOf", "anyOf"] {
            guard let branches = keywords[keyword]?.array else { continue }
            let outcomes = branches.enumerated().map { index, branch in
                validate(instance, branch, pointer: pointer, schemaPath: "\(schemaPath)/\(keyword)/\(index)", depth: depth + 1)
            }
            let matching = outcomes.filter(\.isEmpty).count
            if matching == 0 {
                // The branch that came closest explains the mismatch best.
                let closest = outcomes.min { $0.count < $1.count } ?? []
                violations.append(Violation(
                    pointer: pointer, schemaPath: "\(schemaPath)/\(keyword)",
                    message: "matches none of the \(branches.count) schemas; closest: \(closest.map(\.description).joined(separator: "; "))"))
            } else if keyword == "oneOf" && matching > 1 {
                violations.append(Violation(
                    pointer: pointer, schemaPath: "\(schemaPath)/oneOf", message: "matches \(matching) of the schemas, not exactly one"))
            }
        }
        if let negated = keywords["not"], validate(instance, negated, pointer: pointer, schemaPath: schemaPath, depth: depth + 1).isEmpty {
            violations.append(Violation(pointer: pointer, schemaPath: "\(schemaPath)/not", message: "matches the schema it must not"))
        }
        return violations
    }

    private func validateObject(
        _ members: [String: JSONValue], _ keywords: [String: JSONValue], pointer: String, schemaPath: String, depth: Int
    ) -> [Violation] {
        var violations: [Violation] = []
        let properties = keywords["properties"]?.object
        for name in keywords["required"]?.array?.compactMap(\.string) ?? [] where members[name] == nil {
            violations.append(Violation(pointer: pointer, schemaPath: "\(schemaPath)/required", message: "the required property \(name) is missing"))
        }
        if let minimum = keywords["minProperties"]?.double, Double(members.count) < minimum {
            violations.append(Violation(pointer: pointer, schemaPath: "\(schemaPath)/minProperties", message: "fewer than \(minimum) properties"))
        }
        if let maximum = keywords["maxProperties"]?.double, Double(members.count) > maximum {
            violations.append(Violation(pointer: pointer, schemaPath: "\(schemaPath)/maxProperties", message: "more than \(maximum) properties"))
        }
        for (name, value) in members {
            let memberPointer = "\(pointer)/\(Self.escape(name))"
            if let schema = properties?[name] {
                violations += validate(value, schema, pointer: memberPointer, schemaPath: "\(schemaPath)/properties/\(Self.escape(name))", depth: depth + 1)
            } else if let additional = keywords["additionalProperties"] {
                if case .bool(false) = additional {
                    violations.append(Violation(
                        pointer: memberPointer, schemaPath: "\(schemaPath)/additionalProperties", message: "the property \(name) is not allowed"))
                } else {
                    violations += validate(value, additional, pointer: memberPointer, schemaPath: "\(schemaPath)/additionalProperties", depth: depth + 1)
                }
            } else if properties != nil {
                violations.append(Violation(
                    pointer: memberPointer, schemaPath: "\(schemaPath)/properties",
                    message: "the property \(name) is not documented (properties: \(properties!.keys.sorted().joined(separator: ", ")))"))
            }
        }
        return violations
    }

    private func validateArray(
        _ elements: [JSONValue], _ keywords: [String: JSONValue], pointer: String, schemaPath: String, depth: Int
    ) -> [Violation] {
        var violations: [Violation] = []
        if let minimum = keywords["minItems"]?.double, Double(elements.count) < minimum {
            violations.append(Violation(pointer: pointer, schemaPath: "\(schemaPath)/minItems", message: "\(elements.count) items, fewer than \(Int(minimum))"))
        }
        if let maximum = keywords["maxItems"]?.double, Double(elements.count) > maximum {
            violations.append(Violation(pointer: pointer, schemaPath: "\(schemaPath)/maxItems", message: "\(elements.count) items, more than \(Int(maximum))"))
        }
        if case .bool(true) = keywords["uniqueItems"] {
            for (index, element) in elements.enumerated() where elements[..<index].contains(where: { $0.isSameJSON(as: element) }) {
                violations.append(Violation(
                    pointer: "\(pointer)/\(index)", schemaPath: "\(schemaPath)/uniqueItems", message: "\(element.excerpt) repeats an earlier item"))
            }
        }
        if let items = keywords["items"] {
            for (index, element) in elements.enumerated() {
                violations += validate(element, items, pointer: "\(pointer)/\(index)", schemaPath: "\(schemaPath)/items", depth: depth + 1)
            }
        }
        return violations
    }

    private func validateString(_ text: String, _ keywords: [String: JSONValue]) -> [(String, String)] {
        var violations: [(String, String)] = []
        let length = text.unicodeScalars.count
        if let minimum = keywords["minLength"]?.double, Double(length) < minimum {
            violations.append(("minLength", "\(length) characters, fewer than \(Int(minimum))"))
        }
        if let maximum = keywords["maxLength"]?.double, Double(length) > maximum {
            violations.append(("maxLength", "\(length) characters, more than \(Int(maximum))"))
        }
        if let pattern = keywords["pattern"]?.string {
            if let expression = Self.expression(pattern) {
                if expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil {
                    violations.append(("pattern", "\(JSONValue.string(text).excerpt) does not match \(pattern)"))
                }
            } else {
                violations.append(("pattern", "\(pattern) is not a regular expression this check can read"))
            }
        }
        if let format = keywords["format"]?.string, let expected = Self.stringFormats[format].flatMap(Self.expression),
            expected.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil
        {
            violations.append(("format", "\(JSONValue.string(text).excerpt) is not a \(format)"))
        }
        return violations
    }

    /// Compiled once per pattern: compiling is most of the cost of checking a string.
    private static let expressions = Mutex<[String: NSRegularExpression]>([:])

    private static func expression(_ pattern: String) -> NSRegularExpression? {
        if let cached = expressions.withLock({ $0[pattern] }) { return cached }
        guard let compiled = try? NSRegularExpression(pattern: pattern) else { return nil }
        expressions.withLock { $0[pattern] = compiled }
        return compiled
    }

    /// The string formats checked; others (uri-reference, email…) are annotations, as the standard allows.
    static let stringFormats: [String: String] = [
        "date-time": #"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"#,
        "date": #"^\d{4}-\d{2}-\d{2}$"#,
        "uri": #"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$"#,
    ]

    private func validateNumber(_ number: JSONValue, _ keywords: [String: JSONValue]) -> [(String, String)] {
        guard let value = number.double else { return [] }
        var violations: [(String, String)] = []
        if let minimum = keywords["minimum"]?.double, value < minimum { violations.append(("minimum", "\(number.excerpt) is less than \(minimum)")) }
        if let maximum = keywords["maximum"]?.double, value > maximum { violations.append(("maximum", "\(number.excerpt) is more than \(maximum)")) }
        if let bound = keywords["exclusiveMinimum"]?.double, value <= bound {
            violations.append(("exclusiveMinimum", "\(number.excerpt) is not more than \(bound)"))
        }
        if let bound = keywords["exclusiveMaximum"]?.double, value >= bound {
            violations.append(("exclusiveMaximum", "\(number.excerpt) is not less than \(bound)"))
        }
        switch keywords["format"]?.string {
        case "int32" where Int32(exactly: value) == nil: violations.append(("format", "\(number.excerpt) is not an int32"))
        case "int64" where number.typeName != "integer": violations.append(("format", "\(number.excerpt) is not an int64"))
        default: break
        }
        return violations
    }

    /// A property name as a JSON pointer token.
    static func escape(_ name: String) -> String {
        guard name.contains(where: { $0 == "~" || $0 == "/" }) else { return name }
        return name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}

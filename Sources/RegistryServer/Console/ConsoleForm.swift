import Foundation
import Hummingbird
import NIOCore

/// A posted HTML form (`application/x-www-form-urlencoded`), read within a small bound: the console's
/// forms carry a few short fields.
struct ConsoleForm: Sendable {
    /// The most a console form's body may hold.
    static let maxBytes = 16 << 10
    /// The most fields a form may hold; the rest are not read.
    static let maxFields = 64

    let values: [String: String]

    subscript(_ name: String) -> String? { values[name] }

    /// The trimmed value of `name`, nil when absent or blank.
    func text(_ name: String) -> String? {
        guard let value = values[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    /// Why a body could not be read as a form.
    struct Unreadable: Error, Sendable {
        let reason: String
    }

    static func read(_ request: Request) async throws -> ConsoleForm {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/x-www-form-urlencoded" else { throw Unreadable(reason: "a form is sent as application/x-www-form-urlencoded") }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBytes)
        } catch {
            throw Unreadable(reason: "a form may hold at most \(maxBytes) bytes")
        }
        return parse(String(decoding: buffer.readableBytesView, as: UTF8.self))
    }

    /// `a=1&b=x+y%21` → ["a": "1", "b": "x y!"]; the first of a repeated name wins.
    static func parse(_ text: String) -> ConsoleForm {
        var values: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true).prefix(maxFields) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), !name.isEmpty else { continue }
            let value = parts.count > 1 ? decode(parts[1]) ?? "" : ""
            if values[name] == nil { values[name] = value }
        }
        return ConsoleForm(values: values)
    }

    private static func decode(_ part: Substring) -> String? {
        part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}

/// A labelled form field with the API's reason next to it when its problem names the field.
struct FieldView: Sendable {
    struct Option: Sendable {
        let value: String
        let label: String
        let selected: Bool
    }

    let id: String
    let name: String
    let label: String
    let value: String
    /// `text`, `date`, `number`, `password`, or `select` (with `options`), or `textarea`.
    let type: String
    // Optional members have names no other model uses: a missing value in a Mustache section is looked
    // up in the enclosing objects next.
    let fieldHint: String?
    let fieldError: String?
    let options: [Option]
    let required: Bool

    // Stored, not computed: templates read a model by reflection, which sees stored properties only.
    let isSelect: Bool
    let isTextarea: Bool
    let isInput: Bool
    /// The ids of the hint and error, for `aria-describedby`.
    let describedBy: String?

    init(
        id: String? = nil, name: String, label: String, value: String = "", type: String = "text", hint: String? = nil,
        problem: APIProblem? = nil, problemField: String? = nil, options: [Option] = [], required: Bool = false
    ) {
        self.id = id ?? "field-\(name)"
        self.name = name
        self.label = label
        self.value = value
        self.type = type
        self.fieldHint = hint
        self.fieldError = problem?.reason(for: problemField ?? name)
        self.options = options
        self.required = required
        isSelect = type == "select"
        isTextarea = type == "textarea"
        isInput = !isSelect && !isTextarea
        let fieldID = self.id
        let described = [hint == nil ? nil : "\(fieldID)-hint", fieldError == nil ? nil : "\(fieldID)-error"].compactMap { $0 }
        describedBy = described.isEmpty ? nil : described.joined(separator: " ")
    }

    /// A select of `choices` (value and label alike) with an empty "any" choice first when `any` is given.
    static func select(
        name: String, label: String, choices: [String], selected: String?, any: String? = nil, problem: APIProblem? = nil, id: String? = nil
    ) -> FieldView {
        var options = any.map { [Option(value: "", label: $0, selected: (selected ?? "").isEmpty)] } ?? []
        options += choices.map { Option(value: $0, label: $0.replacingOccurrences(of: "_", with: " "), selected: $0 == selected) }
        return FieldView(id: id, name: name, label: label, value: selected ?? "", type: "select", problem: problem, options: options)
    }
}

import Synchronization

/// Ids for the elements of one picture (its title, its description, its arrow marker), unique on a page
/// that carries several pictures.
///
/// A caller may give a prefix (the pictures then render the same on every call, which tests rely on);
/// without one, each rendering takes a fresh number from a process-wide counter, so that two identical
/// charts on one page still have distinct ids.
struct PictureIDs {
    let prefix: String

    private static let counter = Atomic<Int>(0)

    /// `requested` reduced to the characters an id may safely carry (ASCII letters, digits, `-`, `_`),
    /// starting with a letter; or, when nil or empty after that, `kind` and a fresh number.
    init(kind: String, requested: String?) {
        let cleaned = String(
            (requested ?? "").unicodeScalars
                .filter { $0.isASCII && ($0.properties.isAlphabetic || (48...57).contains($0.value) || $0 == "-" || $0 == "_") }
                .prefix(PictureLimits.maxIDPrefixLength)
                .map(Character.init))
        if cleaned.isEmpty {
            let number = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue
            prefix = "\(kind)\(number)"
        } else {
            prefix = cleaned.first!.isLetter ? cleaned : "p" + cleaned
        }
    }

    var title: String { prefix + "-title" }
    var description: String { prefix + "-desc" }
    func named(_ name: String) -> String { prefix + "-" + name }
}

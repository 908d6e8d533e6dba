/// Text as it goes into an SVG picture: escaped for XML and HTML5 alike, and shortened to fit a box.
enum SVGText {
    /// `text` escaped for element content and for a double- or single-quoted attribute value: `& < > " '`
    /// become references, and characters XML 1.0 forbids or HTML5 calls a parse error (C0 and C1
    /// controls other than tab, line feed and carriage return; noncharacters such as U+FFFE) become
    /// U+FFFD, so that a title from a user never breaks the document it is embedded in.
    static func escaped(_ text: some StringProtocol) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            case "\t", "\n", "\r": result.unicodeScalars.append(scalar)
            default:
                let value = scalar.value
                let isControl = value < 0x20 || (0x7F...0x9F).contains(value)
                let isNoncharacter = (0xFDD0...0xFDEF).contains(value) || value & 0xFFFE == 0xFFFE
                if isControl || isNoncharacter {
                    result.unicodeScalars.append("\u{FFFD}")
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    /// How many ems `text` takes, roughly: half an em for most characters, a whole one for the wide
    /// characters of East Asian scripts and for emoji. The pictures only need it to decide where to cut.
    static func estimatedEms(_ text: some StringProtocol) -> Double {
        var ems = 0.0
        for character in text { ems += emWidth(character) }
        return ems
    }

    /// `text` cut to at most `ems` (see ``estimatedEms(_:)``) with an ellipsis when cut; whole characters
    /// only, so no combining mark or flag is split.
    static func truncated(_ text: String, toEms ems: Double) -> String {
        guard estimatedEms(text) > ems else { return text }
        let budget = ems - 0.5  // room for the ellipsis
        var used = 0.0
        var kept = ""
        for character in text {
            let width = emWidth(character)
            if used + width > budget { break }
            used += width
            kept.append(character)
        }
        return kept + "…"
    }

    /// One line: line breaks and tabs as spaces, so that a title reads the same in a box and a tooltip.
    static func singleLine(_ text: String) -> String {
        String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 })
    }

    private static func emWidth(_ character: Character) -> Double {
        guard let scalar = character.unicodeScalars.first else { return 0 }
        switch scalar.value {
        case 0x1100...0x115F, 0x2E80...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F,
            0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1FAFF, 0x20000...0x3FFFD:
            return 1.0
        case 0x0300...0x036F:
            return 0
        default:
            // Capitals and wide Latin letters take more than half an em; digits and lower case a little less.
            return character.isUppercase || character == "m" || character == "w" ? 0.68 : 0.55
        }
    }
}

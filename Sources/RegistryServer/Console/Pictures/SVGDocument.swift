/// Writes one inline `<svg>` element: a root with `role`, `aria-labelledby` and `aria-describedby`, its
/// `<title>` and `<desc>`, then whatever the picture adds. Every attribute value and every text is
/// escaped here, so a picture cannot forget to.
///
/// Styling is by presentation attributes only (`fill=`, `stroke=`, `font-size=`): the console's
/// Content-Security-Policy blocks `style=` attributes and `<style>` elements.
struct SVGDocument {
    private(set) var text = ""

    /// Opens the root element with its title and description. `role` is "img" for a picture read as a
    /// whole, "group" for one whose parts are links (an image's children are presentational, so links
    /// inside `role="img"` would be hidden from assistive technology).
    init(width: Double, height: Double, ids: PictureIDs, title: String, description: String, role: String = "img") {
        let w = PictureNumbers.coordinate(width)
        let h = PictureNumbers.coordinate(height)
        text += "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(w) \(h)\" width=\"\(w)\" height=\"\(h)\""
        text += " role=\"\(role)\" aria-labelledby=\"\(ids.title)\" aria-describedby=\"\(ids.description)\""
        text += " font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\">"
        element("title", ["id": ids.title], text: title)
        element("desc", ["id": ids.description], text: description)
    }

    /// An element; attributes in the order given (as pairs, so that output is stable).
    mutating func element(_ name: String, _ attributes: KeyValuePairs<String, String>, text content: String? = nil) {
        open(name, Array(attributes), selfClosing: content == nil)
        if let content {
            text += SVGText.escaped(content)
            close(name)
        }
    }

    mutating func open(_ name: String, _ attributes: KeyValuePairs<String, String>) {
        open(name, Array(attributes), selfClosing: false)
    }

    mutating func close(_ name: String) {
        text += "</\(name)>"
    }

    /// A `<text>` element at (x, y).
    mutating func label(
        _ content: String, x: Double, y: Double, size: Double, anchor: String = "start", fill: String = "#1f2933",
        weight: String = "normal"
    ) {
        element(
            "text",
            [
                "x": PictureNumbers.coordinate(x), "y": PictureNumbers.coordinate(y),
                "font-size": PictureNumbers.coordinate(size), "text-anchor": anchor, "fill": fill, "font-weight": weight,
            ],
            text: content)
    }

    /// The finished element.
    mutating func finish() -> String {
        close("svg")
        return text
    }

    private mutating func open(_ name: String, _ attributes: [(key: String, value: String)], selfClosing: Bool) {
        text += "<" + name
        for (key, value) in attributes {
            text += " \(key)=\"\(SVGText.escaped(value))\""
        }
        text += selfClosing ? "/>" : ">"
    }
}

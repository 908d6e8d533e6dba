// Build tool: writes a Swift file holding the given files' bytes, so that the `datarights` binary
// carries its SQL migrations and OpenAPI document with it and needs no files beside it at run time.
//
// Usage: EmbedFiles <output.swift> <EnumName> <input>...
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: EmbedFiles <output.swift> <EnumName> <input>...\n".utf8))
    exit(64)
}
let outputPath = arguments[1]
let enumName = arguments[2]
let inputs = arguments.dropFirst(3).sorted { ($0 as NSString).lastPathComponent < ($1 as NSString).lastPathComponent }

var source = """
    // Generated at build time by the EmbedFiles tool from \(inputs.count) file(s). Do not edit.

    enum \(enumName) {
        /// File name and Base64 of its exact bytes, in file-name order.
        static let files: [(name: String, base64: String)] = [

    """
for input in inputs {
    guard let data = FileManager.default.contents(atPath: input) else {
        FileHandle.standardError.write(Data("EmbedFiles: cannot read \(input)\n".utf8))
        exit(66)
    }
    let name = (input as NSString).lastPathComponent
    source += "        (\"\(name)\", \"\(data.base64EncodedString())\"),\n"
}
source += "    ]\n}\n"
do {
    try source.write(toFile: outputPath, atomically: true, encoding: .utf8)
} catch {
    FileHandle.standardError.write(Data("EmbedFiles: cannot write \(outputPath): \(error)\n".utf8))
    exit(73)
}

import Foundation
import PackagePlugin

/// Embeds files the binary needs at run time into the target that serves them:
/// `Schema/*.sql` into RegistryStore (as `EmbeddedSchema`), and into RegistryServer `docs/openapi.yaml`
/// (as `EmbeddedDocuments`) and the console's templates and assets
/// (`Sources/RegistryServer/Console/Templates/*.mustache` and `Console/Assets/*`, as `EmbeddedConsole`).
/// The files stay where people edit them; the build carries them along.
@main
struct EmbedFilesPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let packageDirectory = context.package.directoryURL
        func files(in folder: String, _ keep: (String) -> Bool) throws -> [URL] {
            let directory = packageDirectory.appendingPathComponent(folder)
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            return names.filter(keep).sorted().map { directory.appendingPathComponent($0) }
        }
        let embeddings: [(enumName: String, inputs: [URL])]
        switch target.name {
        case "RegistryStore":
            embeddings = [("EmbeddedSchema", try files(in: "Schema") { $0.hasSuffix(".sql") })]
        case "RegistryServer":
            embeddings = [
                ("EmbeddedDocuments", [packageDirectory.appendingPathComponent("docs/openapi.yaml")]),
                (
                    "EmbeddedConsole",
                    try files(in: "Sources/RegistryServer/Console/Templates") { $0.hasSuffix(".mustache") }
                        + files(in: "Sources/RegistryServer/Console/Assets") { !$0.hasPrefix(".") }
                ),
            ]
        default:
            return []
        }
        return try embeddings.map { embedding in
            let output = context.pluginWorkDirectoryURL.appendingPathComponent("\(embedding.enumName).swift")
            return .buildCommand(
                displayName: "Embedding \(embedding.inputs.count) file(s) into \(target.name) as \(embedding.enumName)",
                executable: try context.tool(named: "EmbedFiles").url,
                arguments: [output.path, embedding.enumName] + embedding.inputs.map(\.path),
                inputFiles: embedding.inputs,
                outputFiles: [output])
        }
    }
}

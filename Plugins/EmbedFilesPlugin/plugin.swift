import Foundation
import PackagePlugin

/// Embeds files the binary needs at run time into the target that serves them:
/// `Schema/*.sql` into RegistryStore (as `EmbeddedSchema`) and `docs/openapi.yaml` into RegistryServer
/// (as `EmbeddedDocuments`). The files stay where people edit them; the build carries them along.
@main
struct EmbedFilesPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let packageDirectory = context.package.directoryURL
        let enumName: String
        let inputs: [URL]
        switch target.name {
        case "RegistryStore":
            enumName = "EmbeddedSchema"
            let schema = packageDirectory.appendingPathComponent("Schema")
            let names = try FileManager.default.contentsOfDirectory(atPath: schema.path)
            inputs = names.filter { $0.hasSuffix(".sql") }.sorted().map { schema.appendingPathComponent($0) }
        case "RegistryServer":
            enumName = "EmbeddedDocuments"
            inputs = [packageDirectory.appendingPathComponent("docs/openapi.yaml")]
        default:
            return []
        }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("\(enumName).swift")
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) file(s) into \(target.name)",
                executable: try context.tool(named: "EmbedFiles").url,
                arguments: [output.path, enumName] + inputs.map(\.path),
                inputFiles: inputs,
                outputFiles: [output])
        ]
    }
}

import Foundation
import HTTPTypes
import Hummingbird
@testable import RegistryServer
import RegistryStore
import TestSupport
import Testing

/// docs/openapi.yaml is a valid OpenAPI 3.1 document, checked by the reference validator
/// (openapi-spec-validator, installed by .ci/install-deps). Required in CI; elsewhere it runs when the
/// validator is installed.
@Suite struct OpenAPIDocumentTests {
    static let document = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/openapi.yaml").path

    static func python(_ script: String, _ arguments: [String] = []) async throws -> (status: Int32, output: String) {
        let result = try await PythonProcess.run(["-c", script] + arguments)
        return (result.status, result.outputText + result.errorText)
    }

    /// Every operation the document declares, as "METHOD path" (read with PyYAML).
    static func operations() async throws -> [String] {
        let result = try await python(
            """
            import sys, yaml
            document = yaml.safe_load(open(sys.argv[1]))
            for path, operations in document["paths"].items():
                for method in operations:
                    if method in ("get", "post", "put", "delete", "patch"):
                        print(method.upper(), path)
            """, [document])
        #expect(result.status == 0, "\(result.output)")
        return result.output.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    static func validatorInstalled() async -> Bool {
        (try? await python("import openapi_spec_validator, yaml").status) == 0
    }

    @Test(.enabled("openapi-spec-validator is not installed") { await validatorInstalled() || ProcessInfo.processInfo.environment["CI"] != nil })
    func theDocumentValidatesAsOpenAPI31() async throws {
        let result = try await Self.python(
            """
            import sys, yaml
            from openapi_spec_validator import validate
            document = yaml.safe_load(open(sys.argv[1]))
            assert document["openapi"].startswith("3.1"), document["openapi"]
            validate(document)
            print("valid", len(document["paths"]), "paths")
            """, [Self.document])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("valid"))
    }

    @Test(.enabled("PyYAML is not installed") { await validatorInstalled() || ProcessInfo.processInfo.environment["CI"] != nil })
    func everyRouteTheServerServesIsDocumentedAndNothingElse() async throws {
        let inDocument = Set(try await Self.operations())
        let (router, registry, database) = try await TestApp.makeRouter()
        defer { Task { await registry.close(); await database.shutdown() } }
        // The web console (`/console`, HTML for people) is not the API: the document describes /v1 and the
        // operational endpoints.
        let served = Set(router.routes.filter { !$0.path.description.hasPrefix("/console") && !$0.path.description.hasPrefix("console") }.map { route in
            let path = route.path.description.split(separator: "/").map { segment in
                segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
            }.joined(separator: "/")
            return "\(route.method.rawValue) /\(path)"
        })
        #expect(served.subtracting(inDocument).isEmpty, "served but not documented: \(served.subtracting(inDocument).sorted())")
        #expect(inDocument.subtracting(served).isEmpty, "documented but not served: \(inDocument.subtracting(served).sorted())")
    }

    /// The query parameters each operation reads (`RouteTable.queryParameters`, which refuses any other
    /// with a 400) are those the document lists for it, and no operation of the document lists others.
    @Test(.enabled("PyYAML is not installed") { await validatorInstalled() || ProcessInfo.processInfo.environment["CI"] != nil })
    func F16_everyOperationsQueryParametersAreTheDocumentsAndNoOthers() async throws {
        let documented = try await Self.python(
            """
            import sys, yaml
            document = yaml.safe_load(open(sys.argv[1]))
            shared = document["components"].get("parameters", {})
            for path, operations in document["paths"].items():
                for method, operation in operations.items():
                    if method not in ("get", "post", "put", "delete", "patch"):
                        continue
                    names = []
                    for parameter in operations.get("parameters", []) + operation.get("parameters", []):
                        if "$ref" in parameter:
                            parameter = shared[parameter["$ref"].split("/")[-1]]
                        if parameter["in"] == "query":
                            names.append(parameter["name"])
                    if names:
                        print(method.upper(), path, ",".join(sorted(names)))
            """, [Self.document])
        #expect(documented.status == 0, "\(documented.output)")
        var inDocument: [String: Set<String>] = [:]
        for line in documented.output.split(separator: "\n") {
            let parts = line.split(separator: " ")
            inDocument["\(parts[0]) \(parts[1])"] = Set(parts[2].split(separator: ",").map(String.init))
        }
        #expect(inDocument == RouteTable.queryParameters)
    }

    /// Every CSV example of the document starts with the header its operation is served with: the
    /// columns of its item type (issue 16; the contract check holds CSV bodies to their content type only).
    @Test(.enabled("PyYAML is not installed") { await validatorInstalled() || ProcessInfo.processInfo.environment["CI"] != nil })
    func everyCSVExampleHasTheHeaderItsListIsServedWith() async throws {
        let result = try await Self.python(
            """
            import sys, yaml, json
            document = yaml.safe_load(open(sys.argv[1]))
            headers = {}
            for path, operations in document["paths"].items():
                for method, operation in operations.items():
                    if method not in ("get", "post", "put", "delete", "patch"):
                        continue
                    for response in operation.get("responses", {}).values():
                        csv = response.get("content", {}).get("text/csv")
                        if csv is not None:
                            headers[operation["operationId"]] = csv["example"].split("\\n")[0]
            print(json.dumps(headers))
            """, [Self.document])
        #expect(result.status == 0, "\(result.output)")
        let documented = try JSONDecoder().decode([String: String].self, from: Data(result.output.utf8))
        let served: [String: [String]] = [
            "listParties": CSV.columns(of: PartyView.self),
            "searchDatasets": CSV.columns(of: DatasetView.self),
            "listRegistrations": CSV.columns(of: RegistrationView.self),
            "listCertificates": CSV.columns(of: CertificateView.self),
            "listDerivations": CSV.columns(of: DerivationView.self),
            "listAccessRequests": CSV.columns(of: AccessRequestView.self),
            "listGrants": CSV.columns(of: GrantView.self),
            "listGrantUsageEvents": CSV.columns(of: UsageEventView.self),
            "listAuditEvents": CSV.columns(of: AuditEntryView.self),
            "getStatement": CSV.columns(of: StatementCSVRow.self),
            "complianceDatasetUse": CSV.columns(of: DatasetUseRowView.self),
            "complianceQuotaDenials": CSV.columns(of: QuotaDenialRowView.self),
            "complianceAnnualReport": CSV.columns(of: AnnualReportLineView.self),
            "listMissingRecords": CSV.columns(of: MissingRecordRow.self),
            "listCrossBorderGrants": CSV.columns(of: CrossBorderGrantRow.self),
            "listCrossBorderProcessors": CSV.columns(of: CrossBorderProcessorRow.self),
            "listLineageGaps": CSV.columns(of: LineageGapRow.self),
            "listOverdueSharingRequests": CSV.columns(of: OverdueSharingRow.self),
            "getRightsHistory": CSV.columns(of: RightsEventRow.self),
            "getUsageStatistics": CSV.columns(of: StatisticsUsageRow.self),
            "getPublicUsageStatistics": CSV.columns(of: StatisticsUsageRow.self),
            "getUsageRankings": CSV.columns(of: StatisticsRankingRow.self),
            "getPublicUsageRankings": CSV.columns(of: StatisticsRankingRow.self),
        ]
        #expect(Set(documented.keys) == Set(served.keys))
        for (operation, columns) in served {
            #expect(documented[operation] == columns.joined(separator: ","), "\(operation)")
        }
    }
}

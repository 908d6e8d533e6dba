import Foundation
import Hummingbird
import HummingbirdTesting
import RegistryCore
import RegistryStore
import Testing

/// The real `openlineage-python` client (from PyPI, installed by .ci/install-deps) sends RunEvents to a
/// live server: COMPLETE inputs → outputs become derivation edges; unknown datasets are reported.
@Suite struct OpenLineageClientTests {
    static func clientInstalled() async -> Bool {
        (try? await OpenAPIDocumentTests.python("import openlineage.client").status) == 0
    }

    static let script = """
        import sys, uuid, datetime, json
        from openlineage.client import OpenLineageClient
        from openlineage.client.transport.http import HttpConfig, HttpTransport, ApiKeyTokenProvider, HttpCompression
        from openlineage.client.event_v2 import RunEvent, RunState, Run, Job, InputDataset, OutputDataset

        url, key, inputs, output = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
        compression = HttpCompression(sys.argv[5]) if len(sys.argv) > 5 else None
        transport = HttpTransport(HttpConfig(
            url=url, endpoint="v1/lineage/openlineage", auth=ApiKeyTokenProvider({"apiKey": key}), compression=compression))
        client = OpenLineageClient(transport=transport)
        run = Run(runId=str(uuid.uuid4()))
        job = Job(namespace="lab-pipelines", name="join-traffic-and-weather")
        now = lambda: datetime.datetime.now(datetime.timezone.utc).isoformat()
        for state in (RunState.START, RunState.COMPLETE):
            client.emit(RunEvent(
                eventType=state, eventTime=now(), run=run, job=job, producer="https://example.org/pipeline",
                inputs=[InputDataset(namespace="datarights", name=name) for name in inputs] + [InputDataset(namespace="s3://raw", name="weather.csv")],
                outputs=[OutputDataset(namespace="datarights", name="datasets/" + output)]))
        print("sent")
        """

    /// Finding 4: the client's `compression: gzip` sends `Content-Encoding: gzip`, which the server inflates.
    @Test(
        .enabled("openlineage-python is not installed") { await clientInstalled() || ProcessInfo.processInfo.environment["CI"] != nil },
        arguments: [nil, "gzip"])
    func theOpenLineageClientRecordsDerivations(compression: String?) async throws {
        try await RegistryScenarioTests.withCast { cast, registry in
            let ministry = cast.as("ministry")
            var ids: [Int64] = []
            for title in ["Traffic counts", "Road works", "Congestion model input"] {
                ids.append(try #require(try await ministry.post("/v1/datasets", Fixture.dataset(title)).int("id")))
            }
            let port = try #require(cast.api.client.port)
            let ministryKey = try #require(cast.keys["ministry"])
            let arguments = ["http://127.0.0.1:\(port)", ministryKey, "\(ids[0]),\(ids[1])", "\(ids[2])"] + (compression.map { [$0] } ?? [])
            // The client runs in a process of its own, waited for off the cooperative pool.
            let result = try await OpenAPIDocumentTests.python(Self.script, arguments)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("sent"))
            let parents = registry.registry.read { $0.lineage.graph.parents(of: Int32(ids[2])).map { Int64($0.source) } }
            #expect(Set(parents) == [ids[0], ids[1]], "inputs became sources of the output")
            #expect(registry.registry.read { $0.lineage.derivations.all.count } == 2, "the unknown s3 input was not invented")
        }
    }

    @Test func unknownDatasetsAreReportedAndOtherEventsChangeNothing() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let ministry = cast.as("ministry")
            let a = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("A")).int("id"))
            let b = try #require(try await ministry.post("/v1/datasets", Fixture.dataset("B")).int("id"))
            let event: [String: Any] = [
                "eventType": "COMPLETE", "eventTime": "2026-11-29T08:00:00Z", "run": ["runId": "r-1"], "job": ["namespace": "n", "name": "j"],
                "inputs": [["namespace": "datarights", "name": "\(a)"], ["namespace": "datarights", "name": "999999"]],
                "outputs": [["namespace": "datarights", "name": "\(b)"]],
            ]
            let answer = try await ministry.post("/v1/lineage/openlineage", event)
            #expect(answer.status == .ok, "\(answer.text)")
            #expect((answer["recorded"] as? [Any])?.count == 1)
            #expect((answer["unknownDatasets"] as? [[String: Any]])?.first?["name"] as? String == "999999")
            var start = event
            start["eventType"] = "START"
            #expect((try await ministry.post("/v1/lineage/openlineage", start)["recorded"] as? [Any])?.count == 0)
            // Someone else's output: the core refuses as for any derivation.
            #expect(try await cast.as("enterprise").post("/v1/lineage/openlineage", event).status == .forbidden)
        }
    }
}

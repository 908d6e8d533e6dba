import Foundation
import Hummingbird
import RegistryCore
import RegistryStore

/// OpenLineage in: a run's COMPLETE event records its inputs → outputs as derivation edges.
///
/// Datasets are named in the `datarights` namespace by their registry id (`name: "42"` or
/// `"datasets/42"`). Datasets the registry does not know are reported back, never invented; other event
/// types (START, RUNNING, FAIL, ABORT) are accepted and change nothing.
struct OpenLineageController: APIController {
    let service: RegistryService

    static let namespace = "datarights"

    func routes(_ group: RouterGroup<AuthenticatedContext>) {
        group.post("lineage/openlineage") { request, context in try await receive(request, context) }
    }

    /// Records a COMPLETE event's lineage: every output derives from every input, as one write — all the
    /// edges, or on a refusal (an output the caller does not hold, a cycle) none. A dataset that is both an
    /// input and an output was updated in place by the run: that pair is not a derivation (a dataset never
    /// derives from itself; `POST /v1/datasets/{id}/derivations` refuses it) and is listed under `skipped`.
    /// The body may be sent with `Content-Encoding: gzip` (the OpenLineage client's `compression: gzip`).
    func receive(_ request: Request, _ context: AuthenticatedContext) async throws -> Response {
        let actor = context.party
        // OpenLineage's facets are free-form: nulls and fractions are allowed there. The body may be gzip.
        let event = try await request.decodeJSON(RunEvent.self, context: context, options: StrictJSON.Options(foreignDocument: true))
        let eventType = (event.eventType ?? "OTHER").uppercased()
        let inputs = event.inputs ?? []
        let outputs = event.outputs ?? []
        guard inputs.count <= Limits.maxSourcesPerDerivation, outputs.count <= Limits.maxSourcesPerDerivation else {
            throw Problem.badRequest(
                "at most \(Limits.maxSourcesPerDerivation) inputs and outputs per event",
                errors: [.init(field: "inputs", reason: "too many"), .init(field: "outputs", reason: "too many")])
        }
        guard eventType == "COMPLETE" else {
            return try OpenLineageOutcome(
                eventType: eventType, runId: event.run?.runId, recorded: [], skipped: [], unknownDatasets: [],
                note: "only COMPLETE events record lineage"
            ).response()
        }
        var unknown: [RunEvent.DatasetRef] = []
        func resolve(_ reference: RunEvent.DatasetRef) -> DatasetID? {
            var name = Substring(reference.name)
            if name.hasPrefix("datasets/") { name = name.dropFirst("datasets/".count) }
            guard reference.namespace == Self.namespace, name.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let id = Int64(name),
                service.registry.read({ $0.dataset(DatasetID(rawValue: id)) }) != nil
            else {
                unknown.append(reference)
                return nil
            }
            return DatasetID(rawValue: id)
        }
        var sources: [DatasetID] = []
        for input in inputs { if let id = resolve(input), !sources.contains(id) { sources.append(id) } }
        var targets: [DatasetID] = []
        for output in outputs { if let id = resolve(output), !targets.contains(id) { targets.append(id) } }
        let skipped = targets.filter(sources.contains).map {
            OpenLineageOutcome.Skipped(dataset: $0.rawValue, reason: "read and written by the same run: updated in place, not derived from itself")
        }
        var recorded: [OpenLineageOutcome.Edge] = []
        // Nothing to record unless some output has an input other than itself.
        if targets.contains(where: { target in sources.contains { $0 != target } }) {
            let entries = try await service.execute(
                .recordLineage(sources: sources.map { DerivationSource(dataset: $0, kind: .derived) }, targets: targets), by: actor)
            for entry in entries {
                if case .derivation(let derivation) = entry.record {
                    recorded.append(OpenLineageOutcome.Edge(derivation: derivation.id, source: derivation.source.rawValue, target: derivation.target.rawValue))
                }
            }
        }
        return try OpenLineageOutcome(
            eventType: eventType, runId: event.run?.runId, recorded: recorded, skipped: skipped, unknownDatasets: unknown,
            note: unknown.isEmpty ? nil : "datasets outside the \(Self.namespace) namespace or not registered are reported, not created"
        ).response()
    }
}

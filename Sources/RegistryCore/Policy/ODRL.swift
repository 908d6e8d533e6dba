/// ODRL 2.2 JSON-LD for ``Policy`` (R20): what the registry publishes, and what a holder may upload.
///
/// The mapping, both ways:
///
/// | Policy                         | ODRL                                                                          |
/// |--------------------------------|-------------------------------------------------------------------------------|
/// | the policy                     | `@type` `Set`, `uid` `…/policies/dataset/<id>`, `target` `…/datasets/<id>`, `conflict` `prohibit` |
/// | permission / prohibition / duty| entries of `permission` / `prohibition` / `obligation`                        |
/// | rule id                        | the last segment of the rule's `uid`, `…/policies/dataset/<id>/rules/<rule id>` |
/// | action                         | `action`: `use`, `derive`, `distribute`                                       |
/// | duty action                    | an obligation's `action`: `delete`, `attribute`, `dr:reportUsage`; the action that brings the duty is `dr:onAction` (omitted for `use`) |
/// | assigneeParties                | `assignee`: party IRIs `…/parties/<id>` (any one of them)                     |
/// | assigneeKinds                  | without parties: `assignee`: `{"@type": "PartyCollection", "uid": "…/party-kinds/<kind>"}` (a member of any one); with parties: a constraint `dr:partyKind` `isAnyOf` kind names, since several assignees mean "any of them" and the two lists must both hold |
/// | purposes                       | `purpose` `isAnyOf` purpose names                                             |
/// | regions                        | `spatial` `isAnyOf` provincial codes                                          |
/// | notBefore / notAfter           | `dateTime` `gteq` / `lt`, `{"@value": ISO 8601, "@type": "xsd:dateTime"}`     |
/// | maxTokens                      | `count` `lteq` N — here the count is of tokens in the request                 |
/// | gradeCeiling                   | `dr:gradeCeiling` `lteq` `general` / `important` / `core`                     |
/// | retentionDays (delete duties)  | `elapsedTime` `lteq` `{"@value": "P<N>D", "@type": "xsd:duration"}`          |
///
/// `dr:` is `https://datarights.example/ns#`; when a document uses it, the context becomes an array of the
/// ODRL context and `{"dr": …}`. Rules stay in ``Policy/rules`` order: a policy whose rules are not already
/// permissions, then prohibitions, then duties numbers every rule with `dr:position`, so that verdicts name
/// the same rule index after a round trip.
///
/// Import reads what export writes and these variants: terms prefixed `odrl:` or written as full ODRL IRIs,
/// one object where a list is expected, `{"@list": […]}`, `{"@id": …}` for IRIs, plain strings for typed
/// values, constraints grouped with `and`, `eq` with one value for `isAnyOf`, `lteq` for the end of a window
/// and `gt` for its start (converted exactly, in microseconds), `lt` for a token count. Anything else —
/// another operator or left operand, `or`, refinements, duties attached to a permission, an assigner, an
/// unknown key — is refused with a ``PolicyProblem`` naming its JSON path; a constraint is never dropped.
/// Documents are at most ``maxDocumentBytes`` and nest at most ``maxDepth`` deep.
///
/// Export is in ODRLExport.swift, import in ODRLImport.swift; both go through ``PolicyJSON``.
public enum ODRL {
    public static let context = "http://www.w3.org/ns/odrl.jsonld"
    /// The namespace of DataRights' own terms, prefixed `dr:`.
    public static let namespace = "https://datarights.example/ns#"
    public static var maxDocumentBytes: Int { Limits.maxODRLDocumentBytes }
    public static var maxDepth: Int { Limits.maxODRLDepth }

    /// The base of the IRIs the registry names its objects with (ODRL policies, the DCAT-AP catalog).
    public static let base = "https://datarights.example"
    static let partyBase = "\(base)/parties/"
    static let partyKindBase = "\(base)/party-kinds/"

    public static func policyIRI(_ dataset: DatasetID) -> String { "\(base)/policies/dataset/\(dataset.rawValue)" }
    public static func datasetIRI(_ dataset: DatasetID) -> String { "\(base)/datasets/\(dataset.rawValue)" }
    public static func partyIRI(_ party: PartyID) -> String { "\(partyBase)\(party.rawValue)" }
    public static func partyKindIRI(_ kind: PartyKind) -> String { "\(partyKindBase)\(kind.rawValue)" }

    /// A term without its `odrl:` prefix or ODRL namespace; DataRights terms as `dr:<name>`.
    static func term(_ text: String) -> String {
        if text.hasPrefix("odrl:") { return String(text.dropFirst(5)) }
        if text.hasPrefix(odrlNamespace) { return String(text.dropFirst(odrlNamespace.count)) }
        if text.hasPrefix(namespace) { return "dr:" + text.dropFirst(namespace.count) }
        return text
    }

    static let odrlNamespace = "http://www.w3.org/ns/odrl/2/"
}

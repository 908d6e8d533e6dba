import Hummingbird
import RegistryCore

// Parties, API keys and datasets (`RegistryController`): the bodies they are created and changed with and
// the views they are answered with. Records are never encoded as they are kept: ids are plain numbers,
// times ISO 8601, and only what the reader may see is included.

// MARK: Bodies

struct NewPartyBody: Decodable {
    let name: String
    let kind: PartyKind
    let region: String
    let jurisdiction: Jurisdiction
    let creditCode: String?
    /// A GB/T 4754-2017 section letter, A–T; absent when not given.
    let sector: Sector?
}

struct NewKeyBody: Decodable {
    let label: String?
}

struct NewDatasetBody: Decodable {
    let title: String
    let description: String?
    let grade: Grade
    let piLevel: PersonalInformationLevel
    let individualsCovered: Int64
    let region: String
    let sharing: SharingView?
    let fingerprint: String
    let format: String
    let updateCycle: String
    let sizeBytes: Int64
    let tags: [String]?
}

struct DatasetPatchBody: Decodable {
    let title: String?
    let description: String?
    let grade: Grade?
    let piLevel: PersonalInformationLevel?
    let individualsCovered: Int64?
    let sharing: SharingView?
    let fingerprint: String?
    let format: String?
    let updateCycle: String?
    let sizeBytes: Int64?
    let tags: [String]?
}

// MARK: Views

struct PartyView: Codable, Sendable {
    let id: Int64
    let name: String
    let kind: String
    let region: String
    let jurisdiction: String
    let creditCode: String?
    let sector: String?
    let createdAt: String
}

extension PartyView {
    init(_ party: Party) {
        id = party.id.rawValue
        name = party.name
        kind = party.kind.rawValue
        region = party.region
        jurisdiction = party.jurisdiction.rawValue
        creditCode = party.creditCode
        sector = party.sector?.rawValue
        createdAt = party.createdAt.description
    }
}

struct IssuedKey: ResponseEncodable {
    let prefix: String
    let party: Int64
    let label: String
    let createdAt: String
    /// Shown once; only its hash is stored.
    let token: String
}

struct SharingView: Codable, Sendable {
    let category: String
    let text: String?
}

struct DatasetView: Codable, Sendable {
    let id: Int64
    let holder: Int64
    let title: String
    let description: String
    let grade: String
    let piLevel: String
    let individualsCovered: Int64
    let region: String
    let sharing: SharingView?
    let fingerprint: String
    let format: String
    let updateCycle: String
    let sizeBytes: Int64
    let tags: [String]
    let flagged: Bool
    let flagReason: String?
    let createdAt: String
    let updatedAt: String
}

extension DatasetView {
    init(_ dataset: Dataset) {
        id = dataset.id.rawValue
        holder = dataset.holder.rawValue
        title = dataset.title
        description = dataset.description
        grade = dataset.grade.rawValue
        piLevel = dataset.personalInformation.rawValue
        individualsCovered = dataset.individualsCovered
        region = dataset.region
        sharing = dataset.sharing.map { SharingView(category: $0.name, text: $0.text) }
        fingerprint = dataset.fingerprint
        format = dataset.format
        updateCycle = dataset.updateCycle
        sizeBytes = dataset.sizeBytes
        tags = dataset.tags
        flagged = dataset.flagged
        flagReason = dataset.flagReason
        createdAt = dataset.createdAt.description
        updatedAt = dataset.updatedAt.description
    }
}

// MARK: CSV rows (`Respond.page`): examples with every optional object present and every array filled

extension PartyView: CSVRow {
    static let csvExample = PartyView(id: 1, name: "", kind: "", region: "", jurisdiction: "", creditCode: nil, sector: nil, createdAt: "")
}

extension DatasetView: CSVRow {
    static let csvExample = DatasetView(
        id: 1, holder: 1, title: "", description: "", grade: "", piLevel: "", individualsCovered: 0, region: "",
        sharing: SharingView(category: "", text: nil), fingerprint: "", format: "", updateCycle: "", sizeBytes: 0, tags: [""],
        flagged: false, flagReason: nil, createdAt: "", updatedAt: "")
}

/// The sector a party works in: the 20 sections (门类) A–T of the national industry classification
/// GB/T 4754-2017, by their letter. Optional on a party; market statistics count a holder without one
/// under `unclassified` (issue 16). A closed vocabulary: a code outside A–T is refused where it enters.
public enum Sector: String, Sendable, Codable, CaseIterable, Comparable {
    case agriculture = "A"
    case mining = "B"
    case manufacturing = "C"
    case utilities = "D"
    case construction = "E"
    case wholesaleRetail = "F"
    case transport = "G"
    case accommodationCatering = "H"
    case informationTechnology = "I"
    case finance = "J"
    case realEstate = "K"
    case leasingBusinessServices = "L"
    case researchTechnicalServices = "M"
    case waterEnvironmentPublicFacilities = "N"
    case residentRepairOtherServices = "O"
    case education = "P"
    case healthSocialWork = "Q"
    case cultureSportsEntertainment = "R"
    case publicAdministration = "S"
    case internationalOrganisations = "T"

    /// The section's English name as GB/T 4754-2017's English edition gives it.
    public var englishName: String {
        switch self {
        case .agriculture: "Agriculture, forestry, animal husbandry and fishery"
        case .mining: "Mining"
        case .manufacturing: "Manufacturing"
        case .utilities: "Production and supply of electricity, heat, gas and water"
        case .construction: "Construction"
        case .wholesaleRetail: "Wholesale and retail trade"
        case .transport: "Transport, storage and postal services"
        case .accommodationCatering: "Accommodation and catering"
        case .informationTechnology: "Information transmission, software and information technology services"
        case .finance: "Finance"
        case .realEstate: "Real estate"
        case .leasingBusinessServices: "Leasing and business services"
        case .researchTechnicalServices: "Scientific research and technical services"
        case .waterEnvironmentPublicFacilities: "Water conservancy, environment and public facilities management"
        case .residentRepairOtherServices: "Resident services, repair and other services"
        case .education: "Education"
        case .healthSocialWork: "Health and social work"
        case .cultureSportsEntertainment: "Culture, sports and entertainment"
        case .publicAdministration: "Public administration, social security and social organisations"
        case .internationalOrganisations: "International organisations"
        }
    }

    public static func < (left: Self, right: Self) -> Bool { left.rawValue < right.rawValue }
}

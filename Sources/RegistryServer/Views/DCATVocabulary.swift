import Foundation
import RegistryCore

/// How the registry's own words map to the controlled vocabularies DCAT-AP 3 asks for, and the IRIs the
/// catalog names its nodes with. Entities share the ODRL export's IRIs (`…/datasets/<id>`,
/// `…/parties/<id>`), so a dataset's catalog entry and its policy merge into one graph.
enum DCATVocabulary {
    static let context: [String: String] = [
        "dcat": "http://www.w3.org/ns/dcat#",
        "dcterms": "http://purl.org/dc/terms/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "skos": "http://www.w3.org/2004/02/skos/core#",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "adms": "http://www.w3.org/ns/adms#",
        "odrl": "http://www.w3.org/ns/odrl/2/",
        "hydra": "http://www.w3.org/ns/hydra/core#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "locn": "http://www.w3.org/ns/locn#",
    ]

    static let catalogIRI = "\(ODRL.base)/catalog"
    /// The catalog's publisher when it is a configured name rather than a party.
    static let configuredPublisherIRI = "\(ODRL.base)/catalog/publisher"
    /// The theme taxonomy: the datasets' tags (domains), one concept each.
    static let themesIRI = "\(ODRL.base)/themes"
    static let gradesIRI = "\(ODRL.base)/grades"
    static let gradingStandardIRI = "\(ODRL.base)/standards/GB-T-43697-2024"

    /// The national data-classification standard whose grades R11 uses (general, important, core).
    static let gradingStandardIdentifier = "GB/T 43697-2024"
    static let gradingStandardTitle = "Data security technology — Rules for data classification and grading"

    static func themeIRI(_ tag: String) -> String { "\(themesIRI)/\(segment(tag))" }
    static func gradeIRI(_ grade: Grade) -> String { "\(gradesIRI)/\(grade.rawValue)" }
    static func regionIRI(_ code: String) -> String { "\(ODRL.base)/regions/\(segment(code))" }
    static func distributionIRI(_ dataset: DatasetID) -> String { ODRL.datasetIRI(dataset) + "/distribution" }

    /// A path segment: RFC 3986's unreserved characters kept, every other byte of the UTF-8 as `%XX`.
    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    // MARK: Frequencies

    static let frequencyBase = "http://publications.europa.eu/resource/authority/frequency/"

    /// A dataset's `updateCycle` (free text, read without case, with `-` and spaces as `_`) as an EU
    /// frequency: hourly → HOURLY, daily → DAILY, weekly → WEEKLY, biweekly or fortnightly → BIWEEKLY,
    /// monthly → MONTHLY, bimonthly → BIMONTHLY, quarterly → QUARTERLY, semiannual, semi_annual,
    /// half_yearly or biannual → ANNUAL_2, yearly, annual or annually → ANNUAL, biennial → BIENNIAL,
    /// realtime, real_time or continuous → UPDATE_CONT, irregular, ad_hoc or as_needed → IRREG, never,
    /// static, once or one_off → NEVER; anything else → UNKNOWN.
    static func frequency(_ updateCycle: String) -> String {
        let key = updateCycle.trimmingCharacters(in: .whitespaces).lowercased()
            .replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: " ", with: "_")
        return frequencyBase + (frequencies[key] ?? "UNKNOWN")
    }

    static let frequencies: [String: String] = [
        "hourly": "HOURLY", "daily": "DAILY", "weekly": "WEEKLY", "biweekly": "BIWEEKLY", "fortnightly": "BIWEEKLY",
        "monthly": "MONTHLY", "bimonthly": "BIMONTHLY", "quarterly": "QUARTERLY",
        "semiannual": "ANNUAL_2", "semi_annual": "ANNUAL_2", "half_yearly": "ANNUAL_2", "biannual": "ANNUAL_2",
        "yearly": "ANNUAL", "annual": "ANNUAL", "annually": "ANNUAL", "biennial": "BIENNIAL",
        "realtime": "UPDATE_CONT", "real_time": "UPDATE_CONT", "continuous": "UPDATE_CONT",
        "irregular": "IRREG", "ad_hoc": "IRREG", "as_needed": "IRREG",
        "never": "NEVER", "static": "NEVER", "once": "NEVER", "one_off": "NEVER",
    ]

    // MARK: Formats

    static let fileTypeBase = "http://publications.europa.eu/resource/authority/file-type/"
    static let mediaTypeBase = "https://www.iana.org/assignments/media-types/"

    /// A dataset's `format` (read without case) as an EU file type and an IANA media type; a format not
    /// listed here gets neither (the distribution still says how to obtain the data).
    static func fileType(_ format: String) -> (fileType: String, mediaType: String)? {
        formats[format.trimmingCharacters(in: .whitespaces).lowercased()].map { (fileTypeBase + $0.0, mediaTypeBase + $0.1) }
    }

    static let formats: [String: (String, String)] = [
        "csv": ("CSV", "text/csv"), "tsv": ("TSV", "text/tab-separated-values"), "json": ("JSON", "application/json"),
        "xml": ("XML", "application/xml"), "parquet": ("PARQUET", "application/vnd.apache.parquet"),
        "xlsx": ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), "pdf": ("PDF", "application/pdf"),
        "zip": ("ZIP", "application/zip"), "txt": ("TXT", "text/plain"), "html": ("HTML", "text/html"),
        "geojson": ("GEOJSON", "application/geo+json"), "geotiff": ("GEOTIFF", "image/tiff"), "tiff": ("TIFF", "image/tiff"),
    ]
}

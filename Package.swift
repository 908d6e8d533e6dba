// swift-tools-version:6.2
import PackageDescription

/// Settings for every target we write: Swift 6 mode (complete concurrency checking), the upcoming
/// features the Hummingbird family builds with, and warnings as errors.
let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .unsafeFlags(["-warnings-as-errors"]),
]

let package = Package(
    name: "datarights",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "datarights", targets: ["datarights"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // MARK: C interop: each C target has exactly one Swift importer.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "CProcess",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .target(name: "CMemoryHints"),

        // MARK: Infrastructure floors.
        .target(
            name: "PostgresClient",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "EmbeddedPostgres",
            dependencies: [
                "CProcess",
                "PostgresClient",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: The product floors: datarights → RegistryServer → RegistryStore → RegistryCore.
        .target(
            name: "RegistryCore",
            dependencies: ["CMemoryHints", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RegistryStore",
            dependencies: [
                "RegistryCore",
                "PostgresClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings,
            plugins: ["EmbedFilesPlugin"]
        ),
        .target(
            name: "RegistryServer",
            dependencies: [
                "CZlib",
                "RegistryCore",
                "RegistryStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The console's templates and assets are embedded by EmbedFilesPlugin, not compiled or copied.
            exclude: ["Console/Templates", "Console/Assets"],
            swiftSettings: strictSettings,
            plugins: ["EmbedFilesPlugin"]
        ),
        /// `datarights import`: a client of the HTTP API (issue 17). It reads the core's limits and nothing else of it.
        .target(
            name: "RegistryImport",
            dependencies: [
                "RegistryCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "datarights",
            dependencies: [
                "RegistryImport",
                "RegistryServer",
                "RegistryStore",
                "RegistryCore",
                "EmbeddedPostgres",
                "PostgresClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: Build tooling: embeds Schema/*.sql, docs/openapi.yaml and the console's templates into the binary.
        .executableTarget(
            name: "EmbedFiles",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .plugin(
            name: "EmbedFilesPlugin",
            capability: .buildTool(),
            dependencies: ["EmbedFiles"]
        ),

        // MARK: Benchmarks (executables; they print ratios against a baseline measured in the same run).
        .executableTarget(
            name: "PostgresBench",
            dependencies: ["PostgresClient", "EmbeddedPostgres", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/PostgresBench",
            swiftSettings: strictSettings
        ),

        .executableTarget(
            name: "LineageBench",
            dependencies: ["RegistryCore", "RegistryStore", "PostgresClient", "EmbeddedPostgres", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/LineageBench",
            swiftSettings: strictSettings
        ),

        .executableTarget(
            name: "DecisionBench",
            dependencies: ["RegistryCore"],
            path: "Benchmarks/DecisionBench",
            swiftSettings: strictSettings
        ),

        .executableTarget(
            name: "UsageBench",
            dependencies: ["RegistryCore"],
            path: "Benchmarks/UsageBench",
            swiftSettings: strictSettings
        ),

        .executableTarget(
            name: "ComplianceBench",
            dependencies: ["RegistryCore"],
            path: "Benchmarks/ComplianceBench",
            swiftSettings: strictSettings
        ),

        .executableTarget(
            name: "StatisticsBench",
            dependencies: ["RegistryCore", "RegistryStore", "PostgresClient", "EmbeddedPostgres", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/StatisticsBench",
            swiftSettings: strictSettings
        ),

        /// The baseline of the HTTP decision benchmark: a bare Hummingbird route returning a constant.
        .executableTarget(
            name: "BareServer",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/BareServer",
            swiftSettings: strictSettings
        ),

        // MARK: Tests. Store and server tests run on a real PostgreSQL cluster started by EmbeddedPostgres.
        .target(
            name: "TestSupport",
            dependencies: ["EmbeddedPostgres", "PostgresClient", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RegistryCoreTests",
            dependencies: ["RegistryCore"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PostgresClientTests",
            dependencies: ["PostgresClient", "EmbeddedPostgres", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EmbeddedPostgresTests",
            dependencies: ["EmbeddedPostgres", "PostgresClient", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RegistryStoreTests",
            dependencies: ["RegistryStore", "RegistryCore", "PostgresClient", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RegistryServerTests",
            dependencies: [
                "RegistryServer", "RegistryStore", "RegistryCore", "RegistryImport", "PostgresClient", "EmbeddedPostgres", "TestSupport", "datarights",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)

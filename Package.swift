// swift-tools-version:6.0
import PackageDescription

/// Settings shared by every target.
let swiftSettings: [SwiftSetting] = [
    // Existentials must be spelled `any P`, so their cost is visible.
    .enableUpcomingFeature("ExistentialAny"),
    // A file sees only the modules it imports itself.
    .enableUpcomingFeature("MemberImportVisibility"),
    // Imports are internal unless a public API exposes the module (`public import`).
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "quarry",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "api", targets: ["api"]),
        .executable(name: "worker", targets: ["worker"]),
        .executable(name: "janitor", targets: ["janitor"]),
        .executable(name: "quarry", targets: ["quarry"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        // MARK: C libraries (Debian packages through pkg-config)
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        // glibc's `mallopt` (its header is not in the Glibc module): a typed wrapper, no library to link.
        .systemLibrary(name: "CMalloc"),

        // MARK: Libraries
        .target(name: "QuarryLog", dependencies: [.product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .target(name: "Postgres", dependencies: ["CLibPQ", .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .target(name: "Models", swiftSettings: swiftSettings),
        // The job config contract (`ExtractionConfig` and its decoder): one type the api, the worker and the CLI share.
        .target(name: "JobConfig", dependencies: ["Models"], swiftSettings: swiftSettings),
        .target(
            name: "Queue",
            dependencies: ["Postgres", "Models", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Storage",
            dependencies: ["Postgres", "Models", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // Bearer tokens: generation, hashing, lookup; shared by the api and the quarry CLI.
        .target(
            name: "APIAuth",
            dependencies: ["Postgres", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "APIServer",
            dependencies: [
                "Postgres", "Queue", "Models", "Storage", "APIAuth", "QuarryLog", "JobConfig", "Extraction",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Extraction",
            dependencies: ["Models", "JobConfig", "CLibXML2", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Alerts",
            dependencies: ["CCurl", "Models", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "OpsHTTP",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WorkerService",
            dependencies: [
                "Queue", "Postgres", "Models", "QuarryLog", "OpsHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ExtractionJobs",
            dependencies: [
                "Extraction", "WorkerService", "Queue", "Postgres", "Models", "Storage",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "JanitorService",
            dependencies: [
                "Queue", "Postgres", "Models", "Alerts", "QuarryLog", "OpsHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Executables
        .executableTarget(
            name: "worker",
            dependencies: [
                "WorkerService", "ExtractionJobs", "OpsHTTP", "QuarryLog", "Postgres", "Queue", "CMalloc",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "janitor",
            dependencies: [
                "JanitorService", "Alerts", "OpsHTTP", "QuarryLog", "Postgres", "Queue",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "api",
            dependencies: [
                "APIServer", "Queue", "Postgres", "Models", "QuarryLog", "WorkerService", "ExtractionJobs",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "quarry",
            dependencies: [
                "Queue", "Postgres", "Models", "QuarryLog", "APIAuth", "Alerts", "Storage", "Extraction", "ExtractionJobs", "JobConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        /// Shared helpers: test database, child processes, a local webhook receiver.
        .target(
            name: "QuarryTestSupport",
            dependencies: ["Postgres", "Queue", .product(name: "Logging", package: "swift-log")],
            path: "Tests/Support",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "QueueTests", dependencies: ["QuarryTestSupport", "Queue", "Postgres", "Models", "ExtractionJobs", "CMalloc"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "APITests",
            dependencies: [
                "QuarryTestSupport", "Queue", "Postgres", "Models", "Storage", "APIAuth", "APIServer", "Extraction",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // Hostile fixtures are read by #filePath-relative path, not bundled.
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ExtractionTests", dependencies: ["Extraction", "Models"], resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "JobConfigTests", dependencies: ["JobConfig", "Models"],
            // docs/openapi.yaml is read by #filePath-relative path.
            swiftSettings: swiftSettings),
        .testTarget(
            name: "JanitorTests",
            dependencies: [
                "QuarryTestSupport",
                "JanitorService", "Queue", "Postgres", "Models", "Alerts",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AlertsTests",
            dependencies: ["QuarryTestSupport", "Alerts", "Models", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
    ]
)

// swift-tools-version: 6.0
import PackageDescription

let package = Package(
  name: "ModelOpsAgent",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "agent", targets: ["agent"]),
    .library(name: "ModelOpsCore", targets: ["ModelOpsCore"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    // Already built for Hummingbird; named so the router can use NIO's HTTP codecs directly.
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
  ],
  targets: [
    // C libraries, wrapped as system libraries (apt: libyaml-dev, libgit2-dev, libcurl4-openssl-dev).
    .systemLibrary(
      name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
    .systemLibrary(
      name: "CGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
    .systemLibrary(name: "CProcessControl"),
    .systemLibrary(
      name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

    // The pure core: YAML composition, manifest types, loading and validation.
    .target(name: "ModelOpsCore", dependencies: ["CYAML"]),

    // The git source: repositories, trees at a commit, fetch with credentials, checkouts.
    .target(name: "GitSource", dependencies: ["CGit2", "ModelOpsCore"]),

    // The state store: SQLite (WAL) with migrations; registry, runs, deployments, journal, events.
    .target(
      name: "StateStore",
      dependencies: ["ModelOpsCore", .product(name: "GRDB", package: "GRDB.swift")]),

    // Drivers: one folder per family (HTTP via libcurl, registry, runtime; metrics and notify next).
    .target(name: "Drivers", dependencies: ["CCurl", "ModelOpsCore", "StateStore"]),

    // The reconciler: applies plans in rounds, runs training, journals every intent.
    .target(
      name: "Reconciler",
      dependencies: [
        "ModelOpsCore", "GitSource", "StateStore", "Drivers",
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Logging", package: "swift-log"),
      ]),

    // The server of `agent run`: health, readiness, metrics and the API on Hummingbird; the
    // per-deployment routers (reverse proxies) on SwiftNIO.
    .target(
      name: "Server",
      dependencies: [
        "ModelOpsCore", "Reconciler", "StateStore", "Drivers", .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]),

    // The command line: wiring only.
    .executableTarget(
      name: "agent",
      dependencies: [
        "ModelOpsCore",
        "GitSource",
        "StateStore",
        "Drivers",
        "Reconciler",
        "Server",
        "CProcessControl",
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),

    // Benchmarks that need more than the CLI (cycles of one long-lived reader); run by bench/run.
    .executableTarget(
      name: "modelops-bench", dependencies: ["GitSource", "ModelOpsCore", "Drivers", "StateStore"], path: "bench/Sources"),

    // Fuzz targets of the parsers that read others' bytes (scripts/fuzz builds them with libFuzzer;
    // a plain build replays a corpus).
    .systemLibrary(name: "CFuzzer", path: "fuzz/CFuzzer"),
    .executableTarget(name: "modelops-fuzz", dependencies: ["ModelOpsCore", "CFuzzer"], path: "fuzz/Sources"),

    .testTarget(name: "ModelOpsCoreTests", dependencies: ["ModelOpsCore"], exclude: ["Golden"]),
    // Test support: git repositories made with the git CLI, a smart-HTTP git server.
    .target(name: "ModelOpsTesting", dependencies: ["Drivers"], path: "Tests/Support", exclude: ["git_http_server.py"]),
    .testTarget(name: "GitSourceTests", dependencies: ["GitSource", "ModelOpsCore", "ModelOpsTesting"]),
    .testTarget(name: "DriversTests", dependencies: ["Drivers", "StateStore", "ModelOpsCore", "ModelOpsTesting"]),
    .testTarget(name: "StateStoreTests", dependencies: ["StateStore", "ModelOpsCore"]),
    .testTarget(
      name: "ReconcilerTests",
      dependencies: ["Reconciler", "Drivers", "StateStore", "GitSource", "ModelOpsCore", "ModelOpsTesting"]),
    .testTarget(
      name: "ServerTests",
      dependencies: [
        "Server", "Reconciler", "Drivers", "ModelOpsCore", .product(name: "Logging", package: "swift-log"),
      ]),
    .testTarget(name: "SystemLibraryTests", dependencies: ["CGit2", "CCurl", "CYAML"]),
    .testTarget(name: "EndToEndTests", dependencies: ["agent", "Drivers", "ModelOpsCore", "ModelOpsTesting"]),
  ],
  swiftLanguageModes: [.v6]
)

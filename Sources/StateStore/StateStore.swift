import Foundation
import GRDB
import ModelOpsCore

/// The agent's durable state: one SQLite database (WAL) in the state folder.
///
/// Everything the planner observes that the agent itself decided (registry, aliases, runs,
/// revisions, the applied commit) lives here, so a restarted agent carries on where it stopped.
public final class StateStore: Sendable {
  let database: DatabasePool
  public let folder: String

  /// Opens (creating and migrating as needed) the store in `folder`.
  public init(folder: String) throws(StateError) {
    self.folder = folder
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      var configuration = Configuration()
      configuration.busyMode = .timeout(5)
      database = try DatabasePool(path: "\(folder)/state.db", configuration: configuration)
      try Schema.migrator.migrate(database)
    } catch {
      throw StateError("cannot open the state database in \(folder): \(error)")
    }
  }

  /// The journal mode SQLite reports (`wal`).
  public func journalMode() throws -> String {
    try database.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
  }

  func write<T>(_ body: (Database) throws -> T) throws(StateError) -> T {
    do {
      return try database.write(body)
    } catch let refusal as StateError {
      throw refusal  // a rule of the store, said as it is
    } catch {
      throw StateError("state database write failed: \(error)")
    }
  }

  func read<T>(_ body: (Database) throws -> T) throws(StateError) -> T {
    do { return try database.read(body) } catch { throw StateError("state database read failed: \(error)") }
  }
}

/// JSON text for columns holding maps.
func jsonText<T: Encodable>(_ value: T) -> String {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.sortedKeys]
  return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
}

func fromJSON<T: Decodable>(_ text: String?, as type: T.Type) -> T? {
  text.flatMap { try? JSONDecoder().decode(T.self, from: Data($0.utf8)) }
}

import CCurl
import CGit2
import CYAML
import Testing

/// The C libraries the agent wraps link and report usable versions.
@Suite struct SystemLibraryTests {
  @Test func libgit2InitialisesAndReportsAVersion() {
    #expect(git_libgit2_init() >= 1)
    defer { git_libgit2_shutdown() }
    var major: Int32 = 0
    var minor: Int32 = 0
    var patch: Int32 = 0
    #expect(git_libgit2_version(&major, &minor, &patch) == 0)
    #expect(major >= 1)
  }

  @Test func libcurlSupportsUnixSocketsAndHTTP() {
    guard let info = modelops_curl_version() else {
      Issue.record("curl_version_info returned nothing")
      return
    }
    #expect(info.pointee.features & CURL_VERSION_UNIX_SOCKETS != 0)
    let protocols = sequence(state: info.pointee.protocols) { cursor -> String? in
      guard let p = cursor?.pointee else { return nil }
      cursor = cursor?.advanced(by: 1)
      return String(cString: p)
    }
    #expect(protocols.contains("http"))
  }

  @Test func libyamlReportsAVersion() {
    #expect(String(cString: yaml_get_version_string()).hasPrefix("0."))
  }
}

@testable import JanitorService
import Testing
@Test func placeholder() {}

import PostgresClient
import Testing

@Suite struct ConfigurationTests {
    @Test func passwordsNeverReachLogs() {
        let fromURL = PostgresConfiguration(url: "postgresql://registry:s3cret@db.internal:5432/datarights")
        #expect(!fromURL.description.contains("s3cret"))
        #expect(fromURL.description.contains("registry:***@db.internal"))
        let fromKeywords = PostgresConfiguration(host: "/run/pg", user: "registry", password: "s3cret", database: "datarights")
        #expect(!fromKeywords.description.contains("s3cret"))
    }
}

import HTTPTypes
import Testing

/// Found by schemathesis in CI: a public rankings request with the largest cursor trapped on
/// `cursor + limit` and took the server down for everyone. Every statistics list now answers an empty
/// page for a cursor past its rows, whatever its size.
@Suite struct StatisticsCursorTests {
    @Test func F14_theLargestCursorIsAnEmptyPageNotATrap() async throws {
        try await RegistryScenarioTests.withCast { cast, _ in
            let regulator = cast.as("regulator")
            for path in ["/v1/public/statistics/rankings", "/v1/public/statistics/usage", "/v1/statistics/rankings", "/v1/statistics/usage"] {
                let client = path.hasPrefix("/v1/public") ? cast.api : regulator
                for cursor in ["9223372036854775807", "9223372036854775600"] {
                    let answer = try await client.get(path + "?dimension=region&cursor=\(cursor)&limit=200")
                    #expect(answer.status == .ok, "\(path) cursor \(cursor): \(answer.text)")
                    #expect((answer["items"] as? [Any])?.isEmpty == true)
                    #expect(answer.string("nextCursor") == nil)
                }
            }
            #expect(try await cast.api.get("/v1/public/statistics/rankings").status == .ok, "the server still answers")
        }
    }
}

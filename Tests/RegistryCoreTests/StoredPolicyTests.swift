import RegistryCore
import Testing

/// Rule lists as the store keeps them (canonical JSON), read back at a rebuild without the decoder.
@Suite struct StoredPolicyTests {
    @Test func R20_storedRuleListsReadBackExactly() throws {
        for seed in UInt64(0)..<500 {
            var random = SplitMix64(state: seed)
            let policy = PolicyTests.randomPolicy(&random)
            let text = CanonicalJSON.encode(policy.rules)
            let fast = PolicyRule.rules(fromStoredJSON: text)
            #expect(fast == policy.rules, "seed \(seed): \(text)")
            #expect(fast == (try CanonicalJSON.decode([PolicyRule].self, from: text)))
        }
        // Anything but the shape the encoder writes is left to the decoder.
        #expect(PolicyRule.rules(fromStoredJSON: #"[{"id": "x", "kind": "permission", "action": "use", "surprise": 1}]"#) == nil)
        #expect(PolicyRule.rules(fromStoredJSON: "not json") == nil)
    }
}

//! Fuzzing, kept as ordinary tests: apt's output parsers, the scan that puts them
//! together and the agent's reading of a claimed action take arbitrary bytes and
//! mutated real outputs without a panic.

use homelab_agent::apt;
use homelab_agent::client::parse_claim;
use proptest::prelude::*;

const FIXTURES: [&str; 6] = [
    include_str!("fixtures/apt/bookworm-upgrade-sim.txt"),
    include_str!("fixtures/apt/bookworm-upgrade-sim-multi-origin.txt"),
    include_str!("fixtures/apt/bookworm-policy.txt"),
    include_str!("fixtures/apt/ubuntu-noble-policy.txt"),
    include_str!("fixtures/apt/ubuntu-noble-upgrade-sim.txt"),
    include_str!("fixtures/apt/bookworm-showhold.txt"),
];

/// Every parser on the same text, then the scan on the results.
fn all_parsers(text: &str) {
    let sim = apt::parse_upgrade_simulation(text);
    let held = apt::parse_showhold(text);
    let policies = apt::parse_policy(text);
    for p in &policies {
        let _ = (p.security_version(), p.candidate_suite());
    }
    let _ = apt::names_to_inspect(&sim, &held);
    let _ = apt::pending_packages(&sim, &held, &policies);
}

fn mutate(base: &str, edits: &[(usize, u8)]) -> String {
    let mut bytes = base.as_bytes().to_vec();
    for &(at, with) in edits {
        if bytes.is_empty() {
            break;
        }
        let i = at % bytes.len();
        bytes[i] = with;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn apt_parsers_never_panic_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        all_parsers(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn apt_parsers_never_panic_on_line_shaped_noise(
        lines in proptest::collection::vec(
            "(Inst |  |     |        |\\*\\*\\* |Installed: |Candidate: |[a-z0-9]{1,6}:)?\\PC{0,30}",
            0..30,
        )
    ) {
        all_parsers(&lines.join("\n"));
    }

    #[test]
    fn apt_parsers_never_panic_on_mutated_real_outputs(
        which in 0..FIXTURES.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..10),
    ) {
        all_parsers(&mutate(FIXTURES[which], &edits));
    }

    #[test]
    fn reading_a_claim_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_claim(&bytes);
    }

    #[test]
    fn reading_a_mutated_claim_never_panics(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let claim = r#"{"id": 7, "action_type": "apt_update", "argv": ["apt-get", "update"], "timeout_s": 120}"#;
        let _ = parse_claim(mutate(claim, &edits).as_bytes());
    }
}

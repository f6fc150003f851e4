//! Fuzzing, kept as ordinary tests: every parser of untrusted text, fed arbitrary
//! bytes and mutated valid inputs, must answer Ok or Err and never panic.

use homelab_protocol::{
    ActionResult, DebVersion, Heartbeat, NextAction, PackageName, UnitName, VacuumTime,
};
use proptest::prelude::*;

const HEARTBEAT: &str = r#"{"agent_version": "0.1.0", "os": "Debian GNU/Linux 12 (bookworm)",
 "metrics": {"cpu_percent": 3.5, "memory_percent": 41.0, "disk_percent": 62.1,
             "load_1": 0.1, "load_5": 0.2, "load_15": 0.3, "uptime_s": 3600},
 "reboot_required": false,
 "packages": [{"name": "openssl", "current_version": "3.0.11-1~deb12u1",
               "new_version": "3.0.11-1~deb12u2", "repository": "bookworm-security",
               "is_security": true, "security_version": "3.0.11-1~deb12u2",
               "held": false, "kept_back": false}]}"#;
const NEXT: &str = r#"{"id": 7, "action_type": "restart_service", "argv": ["systemctl", "restart", "nginx.service"], "timeout_s": 60}"#;
const RESULT: &str = r#"{"exit_code": 0, "failure": null, "stdout": "ok", "stderr": "",
 "started_at": 1, "finished_at": 2}"#;

fn text_parsers(s: &str) {
    let _ = DebVersion::parse(s);
    let _ = PackageName::parse(s);
    let _ = UnitName::parse(s);
    let _ = VacuumTime::parse(s);
}

fn json_parsers(s: &str) {
    if let Ok(hb) = serde_json::from_str::<Heartbeat>(s) {
        let _ = hb.validate();
    }
    let _ = serde_json::from_str::<NextAction>(s);
    let _ = serde_json::from_str::<ActionResult>(s);
}

/// `base` with byte `at` replaced by `with` (the result may be invalid UTF-8; lossy).
fn mutate(base: &str, at: usize, with: u8) -> String {
    let mut bytes = base.as_bytes().to_vec();
    let i = at % bytes.len();
    bytes[i] = with;
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn text_parsers_never_panic_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        text_parsers(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn text_parsers_never_panic_on_unicode(s in "\\PC{0,40}|[0-9a-z:.+~@_-]{0,40}[^a-z]{0,3}") {
        text_parsers(&s);
    }

    #[test]
    fn json_parsers_never_panic_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        json_parsers(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn json_parsers_never_panic_on_mutated_documents(
        which in 0..3usize,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut doc = [HEARTBEAT, NEXT, RESULT][which].to_owned();
        for (at, with) in edits {
            doc = mutate(&doc, at, with);
        }
        json_parsers(&doc);
    }
}

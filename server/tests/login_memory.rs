//! Resident memory under an anonymous login flood stays bounded (issue 9, item 3):
//! 300 failed logins with distinct long names, 300 with distinct names of the
//! longest checked length, then 128 concurrent logins, leave the process within
//! 50 MB of its idle size. A memory bound, not a timing one. Its own test binary, so
//! that no other test shares the process whose memory it reads.
//!
//! `cargo test -p homelab-server --test login_memory -- --nocapture` prints the
//! figures recorded in docs/BENCHMARKS.md.

#[allow(
    dead_code,
    reason = "shared with the `http` test binary, which uses all of it"
)]
#[path = "http/helpers.rs"]
mod helpers;

use futures::StreamExt as _;

/// A field of /proc/self/status, in kB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_flood_leaves_resident_memory_within_50_mb_of_idle() {
    let app = helpers::spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let attempt = |name: String| {
        let client = client.clone();
        let url = app.url("/login");
        async move {
            let response = client
                .post(url)
                .form(&[
                    ("username", name.as_str()),
                    ("password", "wrong"),
                    ("next", "/"),
                ])
                .send()
                .await
                .expect("login answered");
            assert_eq!(response.status().as_u16(), 303);
        }
    };
    // Idle: started, one login done (spawn_app signs its client in).
    let idle = status_kb("VmRSS");

    let long_names = (0..300).map(|i| format!("{i}-{}", "x".repeat(3_000)));
    let longest_checked = (0..300).map(|i| format!("{i:04}-{}", "y".repeat(59)));
    futures::stream::iter(long_names.chain(longest_checked).map(attempt))
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    let after_failures = status_kb("VmRSS");

    let concurrent = (0..128).map(|i| attempt(format!("flood-{i}")));
    futures::future::join_all(concurrent).await;
    let after = status_kb("VmRSS");
    let peak = status_kb("VmHWM");

    println!(
        "resident memory (MB): idle {:.1}, after 600 failed logins {:.1}, \
         after 128 concurrent logins {:.1}, peak {:.1}",
        idle as f64 / 1024.0,
        after_failures as f64 / 1024.0,
        after as f64 / 1024.0,
        peak as f64 / 1024.0,
    );
    assert!(
        after <= idle + 50 * 1024,
        "resident memory grew from {idle} kB to {after} kB"
    );
}

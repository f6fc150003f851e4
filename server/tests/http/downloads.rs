//! Onboarding a machine: `/downloads/...` (the agent, its checksum, its unit, the
//! install script), public but never secret, and `--public-url`, the address the
//! agents are told.

use axum::body::Body;
use homelab_app::api::LoadOnboarding;
use homelab_server::config::OnboardingArgs;
use homelab_server::onboarding::{AgentBinary, Onboarding, PublicUrl, install_script};
use leptos::server_fn::ServerFn;
use sha2::{Digest, Sha256};

use crate::helpers::{TEST_HOST, spawn_app_with_onboarding, test_router, test_router_with};

/// A stand-in for the agent binary: an x86-64 ELF header and some bytes of every
/// value, so a download that mangles bytes (text decoding, newlines) is caught.
fn fake_agent() -> Vec<u8> {
    let mut bytes = b"\x7fELF\x02\x01\x01".to_vec();
    bytes.resize(18, 0);
    bytes.extend(0x3e_u16.to_le_bytes());
    bytes.resize(64, 0);
    bytes.extend((0..=255u8).cycle().take(300_000));
    bytes
}

fn anonymous() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn onboarding(public_url: Option<&str>) -> Onboarding {
    let agent = AgentBinary::from_bytes(fake_agent(), std::path::Path::new("homelab-agent"))
        .expect("an ELF file");
    Onboarding::new(
        public_url.map(|u| PublicUrl::parse(u).unwrap()),
        Some(agent),
    )
}

#[tokio::test]
async fn the_agent_and_its_checksum_are_downloaded_without_a_login_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("homelab-agent");
    std::fs::write(&path, fake_agent()).unwrap();
    let app = spawn_app_with_onboarding(OnboardingArgs {
        public_url: Some(PublicUrl::parse("http://dash.example:3000").unwrap()),
        agent_binary: Some(path),
    })
    .await;

    let binary = anonymous()
        .get(app.url("/downloads/homelab-agent"))
        .send()
        .await
        .unwrap();
    assert_eq!(binary.status().as_u16(), 200);
    assert_eq!(binary.headers()["content-type"], "application/octet-stream");
    let bytes = binary.bytes().await.unwrap();
    assert_eq!(&bytes[..], &fake_agent()[..]);

    let sum = anonymous()
        .get(app.url("/downloads/homelab-agent.sha256"))
        .send()
        .await
        .unwrap();
    assert_eq!(sum.status().as_u16(), 200);
    assert_eq!(
        sum.text().await.unwrap(),
        format!("{}  homelab-agent\n", hex::encode(Sha256::digest(&bytes)))
    );

    let unit = anonymous()
        .get(app.url("/downloads/homelab-agent.service"))
        .send()
        .await
        .unwrap();
    assert_eq!(unit.status().as_u16(), 200);
    assert!(
        unit.text()
            .await
            .unwrap()
            .contains("ExecStart=/usr/local/bin/homelab-agent")
    );
}

#[tokio::test]
async fn without_an_agent_binary_the_downloads_say_why_with_a_404() {
    let app = test_router().await;
    for path in [
        "/downloads/homelab-agent",
        "/downloads/homelab-agent.sha256",
        "/downloads/install.sh",
    ] {
        let answer = app.get_anonymous(path).await;
        assert_eq!(answer.status, 404, "{path}");
        assert!(
            answer.header("content-type").starts_with("text/plain"),
            "{path}"
        );
        assert!(
            answer
                .body
                .contains("homelab-agent is not available for download here"),
            "{path}: {}",
            answer.body
        );
        assert!(answer.body.contains("--agent-binary"), "{path}");
    }
    // The page learns it too, and says so (see the dashboard test below).
    let info = load_onboarding(&app).await;
    assert_eq!(info["agent"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_named_agent_binary_that_is_missing_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let args = OnboardingArgs {
        public_url: None,
        agent_binary: Some(dir.path().join("no-such-agent")),
    };
    let err = format!("{:#}", Onboarding::load(&args).await.unwrap_err());
    assert!(err.contains("--agent-binary"), "{err}");
    assert!(err.contains("no-such-agent"), "{err}");

    let not_elf = dir.path().join("agent.sh");
    std::fs::write(&not_elf, "#!/bin/sh\n").unwrap();
    let args = OnboardingArgs {
        public_url: None,
        agent_binary: Some(not_elf),
    };
    let err = format!("{:#}", Onboarding::load(&args).await.unwrap_err());
    assert!(err.contains("not a Linux program"), "{err}");
}

#[tokio::test]
async fn the_install_script_names_the_public_url_and_the_checksum_and_never_a_token() {
    let app = test_router_with(onboarding(Some("https://homelab.example.org/"))).await;
    let token = app
        .service
        .add_server(
            homelab_protocol::ServerId::parse("nas-01").unwrap(),
            homelab_protocol::ServerName::parse("NAS").unwrap(),
        )
        .await
        .unwrap()
        .agent_token;
    // Anonymous, and with a session: the same script, with no secret in it.
    for answer in [
        app.get_anonymous("/downloads/install.sh").await,
        app.get_with_session("/downloads/install.sh").await,
    ] {
        assert_eq!(answer.status, 200);
        let script = answer.body;
        assert!(script.starts_with("#!/bin/sh\n"));
        assert!(
            script.contains("\nBASE_URL='https://homelab.example.org'\n"),
            "{script}"
        );
        let sha = hex::encode(Sha256::digest(fake_agent()));
        assert!(script.contains(&format!("\nAGENT_SHA256='{sha}'\n")));
        assert!(script.contains("\nAGENT_ARCH='x86_64'\n"));
        assert!(!script.contains(&token));
        assert!(!script.contains(&app.api_token));
        // Nothing that looks like any token, either.
        let hex_run = script
            .split(|c: char| !c.is_ascii_hexdigit())
            .filter(|run| run.len() >= 64 && *run != sha)
            .count();
        assert_eq!(hex_run, 0, "a 64-digit secret in the script");
        assert_sh_parses(&script);
    }
}

#[tokio::test]
async fn without_a_public_url_the_script_uses_the_address_the_request_came_to() {
    let app = test_router_with(onboarding(None)).await;
    let answer = app.get_anonymous("/downloads/install.sh").await;
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .body
            .contains(&format!("\nBASE_URL='http://{TEST_HOST}'\n")),
        "{}",
        answer.body
    );
    // A Host a shell would read as code gets no script at all.
    for host in ["evil'$(reboot)'", "a`id`", "h;reboot", "x@y", "a b"] {
        let answer = app
            .send(
                axum::http::Request::builder()
                    .uri("/downloads/install.sh")
                    .header("host", host)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(answer.status, 400, "{host}: {}", answer.body);
        assert!(answer.body.contains("--public-url"), "{host}");
        assert!(!answer.body.contains("reboot"), "{host}");
    }
}

/// Every value the script embeds ends up in `sh` as exactly itself: run the
/// assignments with a real shell and read them back.
#[test]
fn values_reach_the_shell_exactly_as_they_are() {
    let agent =
        AgentBinary::from_bytes(fake_agent(), std::path::Path::new("homelab-agent")).unwrap();
    for raw in [
        "http://dash.lan:3000",
        "https://[fd00::1]:8443/homelab/",
        "http://host/%60id%60",
        "http://host/`id`/\"x\"/{a}",
        "http://host/a~b_c.d-e",
    ] {
        let url = PublicUrl::parse(raw).unwrap();
        let script = install_script(&url, &agent);
        let assignments: String = script
            .lines()
            .filter(|l| l.starts_with("BASE_URL=") || l.starts_with("AGENT_"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(assignments.lines().count(), 3, "{script}");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{assignments}printf '%s\\n%s\\n%s' \"$BASE_URL\" \"$AGENT_SHA256\" \"$AGENT_ARCH\""
            ))
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success(), "{raw}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{}\n{}\nx86_64", url.as_str(), agent.sha256()),
            "{raw}"
        );
    }
}

#[tokio::test]
async fn the_dashboard_learns_the_public_url_or_is_told_it_has_none() {
    let with = test_router_with(onboarding(Some("http://homelab.lan:3000"))).await;
    let info = load_onboarding(&with).await;
    assert_eq!(info["base_url"], "http://homelab.lan:3000");
    assert_eq!(info["public_url_set"], true);
    assert_eq!(
        info["agent"]["sha256"],
        hex::encode(Sha256::digest(fake_agent()))
    );
    assert_eq!(info["agent"]["arch"], "x86_64");

    let without = test_router_with(onboarding(None)).await;
    let info = load_onboarding(&without).await;
    assert_eq!(info["base_url"], format!("http://{TEST_HOST}"));
    assert_eq!(info["public_url_set"], false);
    let info = load_onboarding_behind_tls(&without).await;
    assert_eq!(info["base_url"], format!("https://{TEST_HOST}"));
}

#[tokio::test]
async fn a_machine_that_never_reported_shows_the_install_line_and_the_checksum() {
    let app = test_router_with(onboarding(Some("http://homelab.lan:3000"))).await;
    app.service
        .add_server(
            homelab_protocol::ServerId::parse("web1").unwrap(),
            homelab_protocol::ServerName::parse("Web").unwrap(),
        )
        .await
        .unwrap();
    let page = app.get_with_session("/servers/web1").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("curl -fsSL http://homelab.lan:3000/downloads/install.sh | sh"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&hex::encode(Sha256::digest(fake_agent())))
    );

    // With no agent to download and no public URL, the page says both.
    let bare = test_router().await;
    bare.service
        .add_server(
            homelab_protocol::ServerId::parse("web1").unwrap(),
            homelab_protocol::ServerName::parse("Web").unwrap(),
        )
        .await
        .unwrap();
    let page = bare.get_with_session("/servers/web1").await;
    assert!(page.body.contains("--public-url"), "{}", page.body);
    assert!(
        page.body.contains("Agent downloads are unavailable"),
        "{}",
        page.body
    );
}

async fn load_onboarding(app: &crate::helpers::TestRouter) -> serde_json::Value {
    server_fn(app, false).await
}

async fn load_onboarding_behind_tls(app: &crate::helpers::TestRouter) -> serde_json::Value {
    server_fn(app, true).await
}

async fn server_fn(app: &crate::helpers::TestRouter, tls: bool) -> serde_json::Value {
    let mut request = app
        .request("POST", <LoadOnboarding as ServerFn>::PATH)
        .header("cookie", &app.session_cookie)
        .header("content-type", "application/x-www-form-urlencoded");
    if tls {
        request = request.header("x-forwarded-proto", "https");
    }
    let answer = app.send(request.body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// `sh -n`: the script parses (dash is Debian's `sh`, which runs it for real).
fn assert_sh_parses(script: &str) {
    use std::io::Write as _;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(script.as_bytes()).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-n")
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sh -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

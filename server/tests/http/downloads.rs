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
    fake_agent_for(0x3e)
}

/// The same for an arm64 machine (ELF machine 0xb7), with other bytes after it.
fn fake_arm64_agent() -> Vec<u8> {
    let mut bytes = fake_agent_for(0xb7);
    bytes.reverse();
    bytes.splice(..64, fake_agent_for(0xb7)[..64].iter().copied());
    bytes
}

fn fake_agent_for(machine: u16) -> Vec<u8> {
    let mut bytes = b"\x7fELF\x02\x01\x01".to_vec();
    bytes.resize(18, 0);
    bytes.extend(machine.to_le_bytes());
    bytes.resize(64, 0);
    bytes.extend((0..=255u8).cycle().take(300_000));
    bytes
}

fn agent(bytes: Vec<u8>) -> (std::path::PathBuf, AgentBinary) {
    let path = std::path::PathBuf::from("homelab-agent");
    let agent = AgentBinary::from_bytes(bytes, &path).expect("an ELF file");
    (path, agent)
}

fn anonymous() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A dashboard serving an x86-64 and an arm64 agent.
fn onboarding(public_url: Option<&str>) -> Onboarding {
    Onboarding::new(
        public_url.map(|u| PublicUrl::parse(u).unwrap()),
        vec![agent(fake_arm64_agent()), agent(fake_agent())],
    )
    .unwrap()
}

#[tokio::test]
async fn the_agent_and_its_checksum_are_downloaded_without_a_login_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("homelab-agent");
    std::fs::write(&path, fake_agent()).unwrap();
    let app = spawn_app_with_onboarding(OnboardingArgs {
        public_url: Some(PublicUrl::parse("http://dash.example:3000").unwrap()),
        agent_binary: vec![path],
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
    assert_eq!(info["agents"], serde_json::json!([]));
    let answer = app
        .get_anonymous("/downloads/agents/x86_64/homelab-agent")
        .await;
    assert_eq!(answer.status, 404);
    assert!(answer.body.contains("not available for download here"));
}

#[tokio::test]
async fn a_named_agent_binary_that_is_missing_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let args = OnboardingArgs {
        public_url: None,
        agent_binary: vec![dir.path().join("no-such-agent")],
    };
    let err = format!("{:#}", Onboarding::load(&args).await.unwrap_err());
    assert!(err.contains("--agent-binary"), "{err}");
    assert!(err.contains("no-such-agent"), "{err}");

    let not_elf = dir.path().join("agent.sh");
    std::fs::write(&not_elf, "#!/bin/sh\n").unwrap();
    let args = OnboardingArgs {
        public_url: None,
        agent_binary: vec![not_elf],
    };
    let err = format!("{:#}", Onboarding::load(&args).await.unwrap_err());
    assert!(err.contains("not a Linux program"), "{err}");

    // Two agents for one machine type: which one a machine got would be chance.
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    std::fs::write(&one, fake_agent()).unwrap();
    std::fs::write(&two, fake_agent_for(0x3e)).unwrap();
    let args = OnboardingArgs {
        public_url: None,
        agent_binary: vec![one, two],
    };
    let err = format!("{:#}", Onboarding::load(&args).await.unwrap_err());
    assert!(err.contains("are both agents for x86_64"), "{err}");
    assert!(err.contains("one") && err.contains("two"), "{err}");

    // A program for a machine the install script could not recognise (32-bit ARM).
    let arm32 = dir.path().join("arm32");
    let mut bytes = fake_agent_for(0x28);
    bytes[4] = 1;
    std::fs::write(&arm32, bytes).unwrap();
    let args = OnboardingArgs {
        public_url: None,
        agent_binary: vec![arm32],
    };
    let err = format!("{:#}", Onboarding::load(&args).await.unwrap_err());
    assert!(
        err.contains("machine type this dashboard does not know"),
        "{err}"
    );
}

#[tokio::test]
async fn each_machine_type_downloads_its_own_agent_and_an_unknown_one_is_told_which_exist() {
    let dir = tempfile::tempdir().unwrap();
    let (amd64, arm64) = (dir.path().join("amd64"), dir.path().join("arm64"));
    std::fs::write(&amd64, fake_agent()).unwrap();
    std::fs::write(&arm64, fake_arm64_agent()).unwrap();
    let app = spawn_app_with_onboarding(OnboardingArgs {
        public_url: None,
        agent_binary: vec![amd64, arm64],
    })
    .await;
    let get = |path: &str| anonymous().get(app.url(path)).send();

    for (arch, bytes) in [("x86_64", fake_agent()), ("aarch64", fake_arm64_agent())] {
        let binary = get(&format!("/downloads/agents/{arch}/homelab-agent"))
            .await
            .unwrap();
        assert_eq!(binary.status().as_u16(), 200, "{arch}");
        assert_eq!(&binary.bytes().await.unwrap()[..], &bytes[..], "{arch}");
        let sum = get(&format!("/downloads/agents/{arch}/homelab-agent.sha256"))
            .await
            .unwrap();
        assert_eq!(
            sum.text().await.unwrap(),
            format!("{}  homelab-agent\n", hex::encode(Sha256::digest(&bytes)))
        );
    }
    // The plain name is the dashboard's own machine type, as before.
    let plain = get("/downloads/homelab-agent").await.unwrap();
    let own = if cfg!(target_arch = "aarch64") {
        fake_arm64_agent()
    } else {
        fake_agent()
    };
    assert_eq!(&plain.bytes().await.unwrap()[..], &own[..]);

    // Machine types it has no agent for, and worse paths, get a 404 that lists what
    // there is and never repeats what was asked.
    for arch in [
        "armv7l",
        "riscv64",
        "x86_64%2F..",
        "%3Cscript%3E",
        "X86_64",
        "x86_64 ",
    ] {
        for file in ["homelab-agent", "homelab-agent.sha256"] {
            let answer = get(&format!("/downloads/agents/{arch}/{file}"))
                .await
                .unwrap();
            let status = answer.status().as_u16();
            let body = answer.text().await.unwrap();
            if arch.contains('%') {
                // An encoded slash never reaches a handler (the path guard's 400).
                assert!(matches!(status, 400 | 404), "{arch}/{file}: {status}");
            } else {
                assert_eq!(status, 404, "{arch}/{file}");
                assert!(
                    body.contains("it serves agents for aarch64, x86_64."),
                    "{arch}: {body}"
                );
            }
            assert!(
                !body.contains("script") && !body.contains("armv7"),
                "{body}"
            );
        }
    }
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
        let arm_sha = hex::encode(Sha256::digest(fake_arm64_agent()));
        assert!(
            script.contains(&format!("\nAGENTS='aarch64 {arm_sha}\nx86_64 {sha}'\n")),
            "{script}"
        );
        assert!(!script.contains(&token));
        assert!(!script.contains(&app.api_token));
        // Nothing that looks like any token, either.
        let hex_run = script
            .split(|c: char| !c.is_ascii_hexdigit())
            .filter(|run| run.len() >= 64 && *run != sha && *run != arm_sha)
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

/// On a machine type the dashboard has no agent for, the script stops before it
/// asks for a token or touches anything, and says which types there are. The
/// machine's type comes from a `uname` planted first on the script's PATH.
#[test]
fn the_script_refuses_a_machine_type_it_has_no_agent_for() {
    use std::os::unix::fs::PermissionsExt as _;
    let agents = [agent(fake_agent()).1, agent(fake_arm64_agent()).1];
    let script = install_script(&PublicUrl::parse("http://127.0.0.1:9").unwrap(), &agents);
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for (name, body) in [
        ("uname", "#!/bin/sh\necho armv7l\n"),
        // Root, whoever runs the test: the type check comes after the root check.
        ("id", "#!/bin/sh\necho 0\n"),
    ] {
        let path = bin.join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg("install.sh")
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "this dashboard serves agents for x86_64 aarch64, and this machine is armv7l"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("token"),
        "it asked for a token first: {stderr}"
    );
}

/// Every value the script embeds ends up in `sh` as exactly itself: run the
/// assignments with a real shell and read them back.
#[test]
fn values_reach_the_shell_exactly_as_they_are() {
    let agents = [agent(fake_agent()).1, agent(fake_arm64_agent()).1];
    let table = format!(
        "x86_64 {}\naarch64 {}",
        agents[0].sha256(),
        agents[1].sha256()
    );
    for raw in [
        "http://dash.lan:3000",
        "https://[fd00::1]:8443/homelab/",
        "http://host/%60id%60",
        "http://host/`id`/\"x\"/{a}",
        "http://host/a~b_c.d-e",
    ] {
        let url = PublicUrl::parse(raw).unwrap();
        let script = install_script(&url, &agents);
        let start = script.find("\nBASE_URL=").unwrap();
        let end = script[start..].find("\n\nBIN=").unwrap();
        let assignments = &script[start..start + end];
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{assignments}\nprintf '%s\\n%s' \"$BASE_URL\" \"$AGENTS\""
            ))
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success(), "{raw}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{}\n{table}", url.as_str()),
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
    assert_eq!(info["agents"][0]["arch"], "aarch64");
    assert_eq!(
        info["agents"][0]["sha256"],
        hex::encode(Sha256::digest(fake_arm64_agent()))
    );
    assert_eq!(info["agents"][1]["arch"], "x86_64");
    assert_eq!(
        info["agents"][1]["sha256"],
        hex::encode(Sha256::digest(fake_agent()))
    );

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
    for (arch, bytes) in [("x86_64", fake_agent()), ("aarch64", fake_arm64_agent())] {
        let sha = hex::encode(Sha256::digest(bytes));
        assert!(page.body.contains(&sha), "{arch}");
        assert!(
            page.body.contains(&format!(
                "curl -fsSLO http://homelab.lan:3000/downloads/agents/{arch}/homelab-agent\n\
                 echo &#x27;{sha}  homelab-agent&#x27; | sha256sum -c -"
            )) || page.body.contains(&format!(
                "curl -fsSLO http://homelab.lan:3000/downloads/agents/{arch}/homelab-agent\n\
                 echo '{sha}  homelab-agent' | sha256sum -c -"
            )),
            "{arch}: {}",
            page.body
        );
    }

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

//! The agent's token never reaches a child: a real `env` run through the one
//! function that builds every command prints none of the agent's environment.

use homelab_agent::runner::{CHILD_PATH, build_command};

#[tokio::test(flavor = "current_thread")]
async fn a_child_sees_no_token_and_no_variable_of_the_agent() {
    // SAFETY: the only test of this binary, on a single-threaded runtime: no other
    // thread reads or writes the environment.
    unsafe {
        std::env::set_var("HOMELAB_TOKEN", "hca_secret");
        std::env::set_var("HOMELAB_SERVER", "http://hub");
        std::env::set_var("LD_PRELOAD", "/tmp/evil.so");
    }
    let argv = vec!["env".to_owned()];
    let out = build_command(&argv, CHILD_PATH).output().await.unwrap();
    assert!(out.status.success());
    let env = String::from_utf8(out.stdout).unwrap();
    assert!(!env.contains("hca_secret"), "{env}");
    assert!(!env.contains("HOMELAB"), "{env}");
    assert!(!env.contains("LD_PRELOAD"), "{env}");
    assert!(
        env.lines().any(|l| l == "DEBIAN_FRONTEND=noninteractive"),
        "{env}"
    );
    assert!(
        env.lines().any(|l| l == format!("PATH={CHILD_PATH}")),
        "{env}"
    );
}

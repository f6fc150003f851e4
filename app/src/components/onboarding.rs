//! How to put the agent on a machine: the one-line install, the manual steps, and
//! the copy buttons beside them.

use leptos::prelude::*;

use crate::api::{AgentDownload, OnboardingInfo, load_onboarding};
use crate::components::browser_effect;
use crate::domain::machine_type;

/// The install steps for a machine, with this dashboard's address and checksum.
/// `token_shown`: the token was just shown above (else: where to find one).
#[component]
pub fn InstallSteps(#[prop(optional)] token_shown: bool) -> impl IntoView {
    let info = OnceResource::new(load_onboarding());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the install steps…"</p> }>
            {move || Suspend::new(async move {
                match info.await {
                    Ok(info) => view! { <Steps info token_shown/> }.into_any(),
                    Err(e) => view! { <p class="note error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Steps(info: OnboardingInfo, token_shown: bool) -> impl IntoView {
    let base = info.base_url.clone();
    let token_words = if token_shown {
        "paste the token shown above"
    } else {
        "paste this server's agent token (lost it? give the server a new one under Access)"
    };
    view! {
        <div class="install">
            {(!info.public_url_set).then(|| view! { <PublicUrlWarning base=base.clone()/> })}
            {if info.agents.is_empty() {
                view! {
                    <p class="note warning">
                        <strong>"Agent downloads are unavailable."</strong>
                        " This dashboard found no " <code>"homelab-agent"</code>
                        " binary when it started, so there is no one-line install. Put the binary "
                        "beside " <code>"homelab-cmd"</code> " (or start it with "
                        <code>"--agent-binary PATH"</code> ") and restart it, or copy the agent "
                        "to the machine yourself and follow the manual steps."
                    </p>
                }.into_any()
            } else {
                view! {
                    <h3>"Install with one line"</h3>
                    <p>"On the machine, as root (or ending it in " <code>"| sudo sh"</code> "), run:"</p>
                    <CopyBlock text=one_liner(&base) label="Copy the install line" class="install-line"/>
                    <p>
                        "When it asks, " {token_words} ". It reads the token from the terminal, so "
                        "the token is never on a command line (which " <code>"ps"</code>
                        " shows every user) nor in the shell history. The "
                        <a href=format!("{base}/downloads/install.sh")>"script"</a>
                        " downloads the agent for the machine's type from this dashboard, checks its \
                         SHA-256, installs "
                        <code>"/usr/local/bin/homelab-agent"</code> " and its settings in "
                        <code>"/etc/homelab-agent/"</code> " (root only), and starts the "
                        <code>"homelab-agent"</code> " systemd unit; where systemd is not running "
                        "(a container, a chroot) it starts the agent in the background instead. "
                        "Running it again updates the agent."
                    </p>
                    <AgentFacts agents=info.agents.clone()/>
                }.into_any()
            }}
            <ManualSteps base=base.clone() agents=info.agents.clone() token_words/>
        </div>
    }
    .into_any()
}

/// The same as the script, by hand, in three parts to paste one by one.
#[component]
fn ManualSteps(
    base: String,
    agents: Vec<AgentDownload>,
    token_words: &'static str,
) -> impl IntoView {
    let available = !agents.is_empty();
    view! {
        <details class="manual-steps" open=!available>
            <summary>"Manual steps"</summary>
            <ol>
                <li>
                    {if available {
                        "As root on the machine, download the agent for its type (what "
                    } else {
                        "Copy homelab-agent to the machine (it is built into target/release/ \
                         beside homelab-cmd) and, as root there, install it:"
                    }}
                    {available.then(|| view! {
                        <code>"uname -m"</code> " says), check it and install it:"
                    })}
                    {if available {
                        agents.iter().map(|agent| {
                            let label = format!("Copy the download steps for {}", agent.arch);
                            view! {
                                <p class="arch-steps">
                                    "On " <strong>{agent.arch.clone()}</strong> " machines"
                                    {machine_type(&agent.arch).map(|words| format!(" ({words})"))} ":"
                                </p>
                                <CopyBlock text=download_steps(&base, Some(agent)) label/>
                            }
                        }).collect_view().into_any()
                    } else {
                        view! { <CopyBlock text=download_steps(&base, None) label="Copy the download steps"/> }.into_any()
                    }}
                </li>
                <li>
                    "Store the token where only root can read it: run this line, "
                    {token_words} ", press Enter, then Ctrl-D."
                    <CopyBlock text=TOKEN_STEP.to_owned() label="Copy the token step"/>
                </li>
                <li>
                    "Point the agent at this dashboard and start it:"
                    <CopyBlock text=config_steps(&base) label="Copy the configuration steps"/>
                </li>
            </ol>
        </details>
    }
    .into_any()
}

/// Said when `--public-url` is unset: the address shown is only the browser's.
#[component]
fn PublicUrlWarning(base: String) -> impl IntoView {
    view! {
        <p class="note warning public-url-warning">
            <strong>"No public URL is set."</strong>
            " Start homelab-cmd with " <code>"--public-url"</code> " (or "
            <code>"HOMELAB_PUBLIC_URL"</code> "), e.g. "
            <code>"--public-url http://homelab.lan:3000"</code>
            ", before an agent on another machine can connect. Until then the lines below "
            "use the address your browser used, " <code class="fallback-url">{base}</code>
            ", which works only where the machine reaches the dashboard at that same address."
        </p>
    }
}

/// What the dashboard serves: each machine type, with its size and checksum to
/// compare.
#[component]
fn AgentFacts(agents: Vec<AgentDownload>) -> impl IntoView {
    view! {
        <div class="agent-facts muted">
            "Agents served here (the script picks the one for the machine's type):"
            <ul>
                {agents.into_iter().map(|agent| view! {
                    <li>
                        <strong class="arch">{agent.arch.clone()}</strong>
                        {machine_type(&agent.arch).map(|words| format!(" ({words})"))}
                        ", " {megabytes(agent.size)}
                        ", SHA-256 " <code class="checksum">{agent.sha256}</code>
                    </li>
                }).collect_view()}
            </ul>
        </div>
    }
}

/// The line an admin runs on the machine. The token is not in it: the script asks.
pub fn one_liner(base: &str) -> String {
    format!("curl -fsSL {base}/downloads/install.sh | sh")
}

/// The manual steps' first part: the agent binary, checked, in place.
fn download_steps(base: &str, agent: Option<&AgentDownload>) -> String {
    let install = "install -m 0755 homelab-agent /usr/local/bin/homelab-agent";
    match agent {
        Some(agent) => format!(
            "curl -fsSLO {base}/downloads/agents/{}/homelab-agent\n\
             echo '{}  homelab-agent' | sha256sum -c -\n\
             {install}",
            agent.arch, agent.sha256
        ),
        None => install.to_owned(),
    }
}

/// The token goes through `cat`'s stdin into a file only root can read: never an
/// argument, never in the history. A step of its own, because `cat` would swallow
/// any command pasted after it.
const TOKEN_STEP: &str =
    "install -d -m 0700 /etc/homelab-agent && (umask 077; cat > /etc/homelab-agent/token)";

/// The manual steps' last part: the config, the unit, and the start.
fn config_steps(base: &str) -> String {
    format!(
        "(umask 077; cat > /etc/homelab-agent/agent.toml) <<'EOF'\n\
         server = \"{base}\"\n\
         token_file = \"/etc/homelab-agent/token\"\n\
         EOF\n\
         curl -fsSL -o /etc/systemd/system/homelab-agent.service \\\n  \
         {base}/downloads/homelab-agent.service\n\
         systemctl daemon-reload && systemctl enable --now homelab-agent"
    )
}

fn megabytes(bytes: u64) -> String {
    // Display only: a size in MB with one decimal.
    #[allow(clippy::cast_precision_loss)]
    let mb = bytes as f64 / 1_000_000.0;
    format!("{mb:.1} MB")
}

/// Text to copy: selectable as it is, and with a Copy button once the page is
/// hydrated (without JavaScript there is no button to press in vain). `label`
/// names the button for screen readers and tests.
#[component]
pub fn CopyBlock(
    text: String,
    #[prop(into)] label: String,
    #[prop(optional)] class: &'static str,
) -> impl IntoView {
    let hydrated = RwSignal::new(false);
    browser_effect(move || hydrated.set(true));
    let outcome = RwSignal::new(None::<Copied>);
    let node = NodeRef::<leptos::html::Pre>::new();
    let stored = StoredValue::new(text.clone());
    let copy = move |_| {
        #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
        clipboard::copy(stored.get_value(), node, outcome);
        #[cfg(not(all(feature = "hydrate", target_arch = "wasm32")))]
        let _ = (stored, node);
    };
    let class = if class.is_empty() {
        "snippet".to_owned()
    } else {
        format!("snippet {class}")
    };
    view! {
        <div class="copy-block">
            <pre class=class node_ref=node>{text}</pre>
            {move || hydrated.get().then(|| view! {
                <button type="button" class="copy" aria-label=label.clone() on:click=copy>"Copy"</button>
            })}
            <span class="copy-outcome" aria-live="polite">
                {move || outcome.get().map(Copied::words)}
            </span>
        </div>
    }
    // Erased: the pages nest several of these, and their full types outgrow the
    // compiler's query depth in release builds.
    .into_any()
}

/// What a press of a Copy button did (only the browser build presses them).
#[cfg_attr(
    not(all(feature = "hydrate", target_arch = "wasm32")),
    allow(dead_code)
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Copied {
    /// On the clipboard.
    Yes,
    /// The browser refused (plain http on the LAN has no clipboard API): the text
    /// is selected for the user's own Ctrl+C.
    Selected,
}

impl Copied {
    fn words(self) -> &'static str {
        match self {
            Copied::Yes => "Copied",
            Copied::Selected => "Selected: press Ctrl+C to copy",
        }
    }
}

/// The clipboard, bound by hand (see `Cargo.toml`).
#[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
mod clipboard {
    use leptos::prelude::*;
    use wasm_bindgen::prelude::*;

    use super::Copied;

    #[wasm_bindgen]
    extern "C" {
        /// `navigator.clipboard.writeText`; throws where there is no clipboard API
        /// (pages not served over https or from localhost).
        #[wasm_bindgen(catch, js_namespace = ["navigator", "clipboard"], js_name = writeText)]
        fn write_text(text: &str) -> Result<js_sys::Promise, JsValue>;

        type Selection;

        #[wasm_bindgen(js_namespace = window, js_name = getSelection)]
        fn get_selection() -> Option<Selection>;

        #[wasm_bindgen(method, catch, js_name = selectAllChildren)]
        fn select_all_children(this: &Selection, node: &JsValue) -> Result<(), JsValue>;

        /// The old way, which also works over plain http: copies the selection.
        #[wasm_bindgen(catch, js_namespace = document, js_name = execCommand)]
        fn exec_command(command: &str) -> Result<bool, JsValue>;
    }

    /// Copies `text`: through the clipboard API, else by selecting `node` and
    /// asking the browser to copy the selection, else leaving it selected.
    pub fn copy(text: String, node: NodeRef<leptos::html::Pre>, outcome: RwSignal<Option<Copied>>) {
        leptos::task::spawn_local(async move {
            if let Ok(promise) = write_text(&text)
                && wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
            {
                outcome.set(Some(Copied::Yes));
                return;
            }
            let selected = match (node.get_untracked(), get_selection()) {
                (Some(pre), Some(selection)) => {
                    let pre: &JsValue = pre.as_ref();
                    selection.select_all_children(pre).is_ok()
                }
                _ => false,
            };
            let copied = selected && exec_command("copy").unwrap_or(false);
            outcome.set(Some(if copied {
                Copied::Yes
            } else {
                Copied::Selected
            }));
        });
    }
}

//! What must survive an agent restart, in the state directory: results not yet
//! acknowledged by the server (`results/<id>.json`) and the action running right now
//! (`running.json`), so that after a crash it is reported `interrupted` and never run
//! again.

use std::path::{Path, PathBuf};

use homelab_protocol::{ActionResult, AgentFailure, NextAction};
use serde::{Deserialize, Serialize};

/// A result waiting for the server's acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingResult {
    pub id: i64,
    pub result: ActionResult,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct State {
    dir: PathBuf,
}

impl State {
    /// Opens (and creates) the state directory.
    pub fn open(dir: &Path) -> std::io::Result<State> {
        std::fs::create_dir_all(dir.join("results"))?;
        Ok(State {
            dir: dir.to_owned(),
        })
    }

    fn running_path(&self) -> PathBuf {
        self.dir.join("running.json")
    }

    fn result_path(&self, id: i64) -> PathBuf {
        self.dir.join("results").join(format!("{id}.json"))
    }

    /// Records that `action` is about to run. Written (and synced) before the spawn.
    pub fn mark_running(&self, action: &NextAction) -> std::io::Result<()> {
        write_atomically(&self.running_path(), &serde_json::to_vec(&action.id)?)
    }

    /// Stores a result until it is acknowledged, then forgets the running mark.
    pub fn store_result(&self, pending: &PendingResult) -> std::io::Result<()> {
        write_atomically(&self.result_path(pending.id), &serde_json::to_vec(pending)?)?;
        match std::fs::remove_file(self.running_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Forgets a result the server acknowledged.
    pub fn acknowledged(&self, id: i64) -> std::io::Result<()> {
        match std::fs::remove_file(self.result_path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// After a restart: an action that was running when the agent died becomes an
    /// `interrupted` result (it is never run again).
    pub fn recover_interrupted(&self) -> std::io::Result<Option<i64>> {
        let text = match std::fs::read(self.running_path()) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Ok(id) = serde_json::from_slice::<i64>(&text) else {
            tracing::error!(path = %self.running_path().display(), "unreadable running mark; removed");
            std::fs::remove_file(self.running_path())?;
            return Ok(None);
        };
        let now = homelab_protocol::now_ms();
        self.store_result(&PendingResult {
            id,
            result: ActionResult {
                exit_code: None,
                failure: Some(AgentFailure::Interrupted),
                stdout: String::new(),
                stderr: "the agent restarted while this action ran; it was not run again".into(),
                started_at: None,
                finished_at: Some(now),
            },
        })?;
        Ok(Some(id))
    }

    /// Every result still waiting for delivery, oldest action first.
    pub fn pending_results(&self) -> std::io::Result<Vec<PendingResult>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.join("results"))? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match serde_json::from_slice(&std::fs::read(&path)?) {
                Ok(pending) => out.push(pending),
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "unreadable stored result; kept for inspection")
                }
            }
        }
        out.sort_by_key(|p: &PendingResult| p.id);
        Ok(out)
    }
}

/// Writes `bytes` to a temporary file, syncs it, then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use homelab_protocol::ActionType;

    fn action(id: i64) -> NextAction {
        NextAction {
            id,
            action_type: ActionType::AptUpdate,
            argv: vec!["apt-get".into(), "update".into()],
            timeout_s: 120,
        }
    }

    fn result(code: i32) -> ActionResult {
        ActionResult {
            exit_code: Some(code),
            failure: None,
            stdout: "out".into(),
            stderr: String::new(),
            started_at: Some(1),
            finished_at: Some(2),
        }
    }

    #[test]
    fn results_survive_until_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        state.mark_running(&action(9)).unwrap();
        state
            .store_result(&PendingResult {
                id: 9,
                result: result(0),
            })
            .unwrap();
        state
            .store_result(&PendingResult {
                id: 3,
                result: result(1),
            })
            .unwrap();

        let reopened = State::open(dir.path()).unwrap();
        assert_eq!(reopened.recover_interrupted().unwrap(), None, "9 finished");
        let ids: Vec<_> = reopened
            .pending_results()
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, [3, 9]);
        reopened.acknowledged(3).unwrap();
        reopened.acknowledged(3).unwrap();
        assert_eq!(reopened.pending_results().unwrap().len(), 1);
    }

    #[test]
    fn an_action_running_at_a_crash_is_reported_interrupted_once() {
        let dir = tempfile::tempdir().unwrap();
        State::open(dir.path())
            .unwrap()
            .mark_running(&action(5))
            .unwrap();

        let state = State::open(dir.path()).unwrap();
        assert_eq!(state.recover_interrupted().unwrap(), Some(5));
        let pending = state.pending_results().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].result.failure, Some(AgentFailure::Interrupted));
        assert_eq!(state.recover_interrupted().unwrap(), None, "only once");
    }
}

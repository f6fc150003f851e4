//! What must survive an agent restart, in the state directory: results not yet
//! acknowledged by the server (`results/<id>.json`), the action running right now
//! (`running.json`) and its command's process group (`running.pgid`), so that after a
//! crash the restarted agent waits for that command to end, reports the action
//! `interrupted` only then, and never runs it again. A reboot this agent started
//! (`reboot.json`, with the boot it left) is not interrupted by the restart that
//! follows it: the server sees the new boot id and completes it. A stored result
//! that cannot be read is renamed `*.corrupt` and never blocks the others.

use std::path::{Path, PathBuf};

use homelab_protocol::{ActionResult, AgentFailure, BootId, NextAction};
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

    fn group_path(&self) -> PathBuf {
        self.dir.join("running.pgid")
    }

    fn reboot_path(&self) -> PathBuf {
        self.dir.join("reboot.json")
    }

    fn result_path(&self, id: i64) -> PathBuf {
        self.dir.join("results").join(format!("{id}.json"))
    }

    /// Records that `action` is about to run. Written (and synced) before the spawn.
    pub fn mark_running(&self, action: &NextAction) -> std::io::Result<()> {
        write_atomically(&self.running_path(), &serde_json::to_vec(&action.id)?)
    }

    /// Records the process group of the command now running (written and synced
    /// before the agent waits on it), with this boot's id: a group id from an earlier
    /// boot names nothing.
    pub fn mark_group(&self, pgid: i32) -> std::io::Result<()> {
        let mark = GroupMark {
            pgid,
            boot_id: boot_id(),
        };
        write_atomically(&self.group_path(), &serde_json::to_vec(&mark)?)
    }

    /// The process group recorded by an agent that died while an action ran, if it
    /// was recorded during this boot.
    pub fn interrupted_group(&self) -> Option<i32> {
        let text = std::fs::read(self.group_path()).ok()?;
        let mark: GroupMark = serde_json::from_slice(&text).ok()?;
        (mark.boot_id == boot_id() && mark.pgid > 1).then_some(mark.pgid)
    }

    /// Records (written and synced before the command runs) that action `id` reboots
    /// this machine from this boot. Refused where this boot has no id: nothing could
    /// tell that the machine came back.
    pub fn mark_reboot(&self, id: i64) -> std::io::Result<()> {
        let boot_id = current_boot_id().ok_or_else(|| {
            std::io::Error::other(
                "this machine reports no boot id (/proc/sys/kernel/random/boot_id)",
            )
        })?;
        let mark = RebootMark {
            id,
            boot_id: boot_id.into(),
            requested_at: homelab_protocol::now_ms(),
        };
        write_atomically(&self.reboot_path(), &serde_json::to_vec(&mark)?)
    }

    /// Forgets the reboot mark (its command failed: there is no reboot to wait for).
    pub fn forget_reboot(&self) -> std::io::Result<()> {
        match std::fs::remove_file(self.reboot_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// After a restart, before [`Self::recover_interrupted`]: what became of a reboot
    /// this agent started. From a new boot it is over (the server completes it from
    /// the heartbeat), and the marks go, so it is never reported interrupted. In the
    /// same boot with the command still marked running, the agent died before the
    /// command answered: the mark goes, and the action is reported interrupted. In
    /// the same boot after the command answered, the machine may still be going
    /// down: the mark stays, and the server fails the reboot if no new boot reports
    /// in time.
    pub fn settle_reboot(&self) -> std::io::Result<Option<RebootSettled>> {
        let text = match std::fs::read(self.reboot_path()) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Ok(mark) = serde_json::from_slice::<RebootMark>(&text) else {
            tracing::error!(path = %self.reboot_path().display(), "unreadable reboot mark; removed");
            self.forget_reboot()?;
            return Ok(None);
        };
        let now = current_boot_id().map(String::from).unwrap_or_default();
        let running: Option<i64> = std::fs::read(self.running_path())
            .ok()
            .and_then(|t| serde_json::from_slice(&t).ok());
        if now != mark.boot_id {
            // The reboot's own running mark, if the shutdown came before the command
            // answered; another action's stays, to be reported interrupted.
            if running == Some(mark.id) {
                self.forget_running()?;
            }
            self.forget_reboot()?;
            return Ok(Some(RebootSettled::Back {
                id: mark.id,
                from: mark.boot_id,
                to: now,
            }));
        }
        if running == Some(mark.id) {
            self.forget_reboot()?;
            return Ok(Some(RebootSettled::Interrupted { id: mark.id }));
        }
        Ok(Some(RebootSettled::SameBoot { id: mark.id }))
    }

    /// Stores a result until it is acknowledged, then forgets the running marks.
    pub fn store_result(&self, pending: &PendingResult) -> std::io::Result<()> {
        write_atomically(&self.result_path(pending.id), &serde_json::to_vec(pending)?)?;
        self.forget_running()
    }

    /// Forgets the running marks of an action that ends without a result (an upgrade
    /// handed back to the server for a person: nothing ran, nothing to report).
    pub fn forget_running(&self) -> std::io::Result<()> {
        for path in [self.running_path(), self.group_path()] {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Forgets a result the server acknowledged.
    pub fn acknowledged(&self, id: i64) -> std::io::Result<()> {
        match std::fs::remove_file(self.result_path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// After a restart, once [`Self::interrupted_group`] is gone: an action that was
    /// running when the agent died becomes an `interrupted` result (it is never run
    /// again).
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
                stderr: "the agent restarted while this action ran; its command was left to end, \
                         and it was not run again"
                    .into(),
                started_at: None,
                finished_at: Some(now),
            },
        })?;
        Ok(Some(id))
    }

    /// Every result still waiting for delivery, oldest action first. A file that
    /// cannot be read or parsed is renamed `*.corrupt` (kept for inspection) and the
    /// others are returned all the same.
    pub fn pending_results(&self) -> std::io::Result<Vec<PendingResult>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.join("results"))? {
            let path = match entry {
                Ok(entry) => entry.path(),
                Err(e) => {
                    tracing::error!(error = %e, "cannot list a stored result; skipped");
                    continue;
                }
            };
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let parsed = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<PendingResult>(&bytes).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(pending) => out.push(pending),
                Err(error) => {
                    let aside = path.with_extension("json.corrupt");
                    let moved = std::fs::rename(&path, &aside);
                    tracing::error!(
                        path = %path.display(),
                        %error,
                        moved_to = %aside.display(),
                        rename_error = ?moved.err(),
                        "unreadable stored result moved aside; the others are still delivered"
                    );
                }
            }
        }
        out.sort_by_key(|p: &PendingResult| p.id);
        Ok(out)
    }
}

/// `reboot.json`: a reboot this agent started, and the boot it left.
#[derive(Debug, Serialize, Deserialize)]
struct RebootMark {
    id: i64,
    boot_id: String,
    requested_at: i64,
}

/// What became of a reboot started before the agent restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebootSettled {
    /// The machine came back from a new boot.
    Back { id: i64, from: String, to: String },
    /// The agent died before the command answered, and the machine did not reboot.
    Interrupted { id: i64 },
    /// The command answered, and this is still the boot it was meant to end.
    SameBoot { id: i64 },
}

/// `running.pgid`: a process group and the boot it belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct GroupMark {
    pgid: i32,
    boot_id: String,
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`); `None` where there is none
/// (or it is not the kernel's UUID text).
pub fn current_boot_id() -> Option<BootId> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    BootId::parse(text).ok()
}

/// This boot's id as the group mark keeps it; empty where there is none.
fn boot_id() -> String {
    current_boot_id().map(String::from).unwrap_or_default()
}

/// Whether any process of group `pgid` is still alive (a zombie-only group counts
/// as alive until reaped; EPERM means it exists under another user).
pub fn group_alive(pgid: i32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pgid) else {
        return false;
    };
    match rustix::process::test_kill_process_group(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
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
    use std::os::unix::process::CommandExt;

    fn action(id: i64) -> NextAction {
        NextAction::run(
            homelab_protocol::ActionId::new(id),
            ActionType::AptUpdate,
            vec!["apt-get".into(), "update".into()],
            120,
        )
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

    #[test]
    fn a_reboot_from_a_new_boot_is_over_and_never_reported_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        state.mark_running(&action(9)).unwrap();
        // As the machine's last boot left it: the command never answered (the
        // shutdown came first), and the mark names a boot that is not this one.
        let left = "00000000-0000-4000-8000-000000000000";
        std::fs::write(
            dir.path().join("reboot.json"),
            format!(r#"{{"id": 9, "boot_id": "{left}", "requested_at": 1}}"#),
        )
        .unwrap();
        let settled = state.settle_reboot().unwrap();
        assert!(
            matches!(settled, Some(RebootSettled::Back { id: 9, ref from, .. }) if from == left),
            "{settled:?}"
        );
        assert_eq!(state.recover_interrupted().unwrap(), None);
        assert!(state.pending_results().unwrap().is_empty());
        assert_eq!(state.settle_reboot().unwrap(), None, "once");
    }

    #[test]
    fn a_reboot_in_the_same_boot_waits_or_is_interrupted_and_another_action_stays_interrupted() {
        let Some(_) = current_boot_id() else {
            // No /proc here: a reboot cannot even be marked (tested below).
            let dir = tempfile::tempdir().unwrap();
            assert!(State::open(dir.path()).unwrap().mark_reboot(1).is_err());
            return;
        };
        // The command answered and the agent restarted in the same boot: it waits.
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        state.mark_reboot(3).unwrap();
        assert_eq!(
            state.settle_reboot().unwrap(),
            Some(RebootSettled::SameBoot { id: 3 })
        );
        assert_eq!(state.recover_interrupted().unwrap(), None);
        // The agent died before the command answered: interrupted, once.
        state.mark_running(&action(3)).unwrap();
        assert_eq!(
            state.settle_reboot().unwrap(),
            Some(RebootSettled::Interrupted { id: 3 })
        );
        assert_eq!(state.recover_interrupted().unwrap(), Some(3));
        assert_eq!(state.settle_reboot().unwrap(), None);
        // A reboot that came back leaves another action's running mark alone.
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        state.mark_running(&action(4)).unwrap();
        std::fs::write(
            dir.path().join("reboot.json"),
            r#"{"id": 3, "boot_id": "00000000-0000-4000-8000-000000000000", "requested_at": 1}"#,
        )
        .unwrap();
        assert!(matches!(
            state.settle_reboot().unwrap(),
            Some(RebootSettled::Back { id: 3, .. })
        ));
        assert_eq!(state.recover_interrupted().unwrap(), Some(4));
    }

    #[test]
    fn a_corrupt_or_unreadable_result_is_moved_aside_and_the_others_still_come() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        state
            .store_result(&PendingResult {
                id: 9,
                result: result(0),
            })
            .unwrap();
        let results = dir.path().join("results");
        std::fs::write(results.join("7.json"), b"{\"id\": 7, \"resu").unwrap();
        std::fs::write(results.join("8.json"), [0xff, 0xfe, 0x00]).unwrap();
        // A directory where a file should be: reading it fails.
        std::fs::create_dir(results.join("6.json")).unwrap();

        let ids: Vec<i64> = state
            .pending_results()
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, [9]);
        for id in [6, 7, 8] {
            assert!(results.join(format!("{id}.json.corrupt")).exists(), "{id}");
            assert!(!results.join(format!("{id}.json")).exists(), "{id}");
        }
        assert_eq!(
            state.pending_results().unwrap().len(),
            1,
            "nothing left to trip on"
        );
    }

    #[test]
    fn the_process_group_is_remembered_for_this_boot_only_and_forgotten_with_the_result() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        state.mark_running(&action(4)).unwrap();
        state.mark_group(4242).unwrap();
        assert_eq!(
            State::open(dir.path()).unwrap().interrupted_group(),
            Some(4242)
        );

        std::fs::write(
            dir.path().join("running.pgid"),
            br#"{"pgid": 4242, "boot_id": "an-earlier-boot"}"#,
        )
        .unwrap();
        assert_eq!(state.interrupted_group(), None);

        state.mark_group(4243).unwrap();
        state
            .store_result(&PendingResult {
                id: 4,
                result: result(0),
            })
            .unwrap();
        assert_eq!(state.interrupted_group(), None);
    }

    #[test]
    fn a_group_is_alive_while_any_member_lives() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        assert!(group_alive(pgid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!group_alive(pgid));
    }
}

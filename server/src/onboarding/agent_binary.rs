//! The `homelab-agent` binary the dashboard hands out, read once at start-up.

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use sha2::{Digest, Sha256};

/// The agent binary, held in memory with its checksum: what is served is exactly
/// what was hashed, even if the file on disk is replaced while the dashboard runs
/// (a restart picks up a new agent).
#[derive(Clone)]
pub struct AgentBinary {
    bytes: Bytes,
    sha256: String,
    arch: &'static str,
}

impl std::fmt::Debug for AgentBinary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentBinary")
            .field("len", &self.bytes.len())
            .field("sha256", &self.sha256)
            .field("arch", &self.arch)
            .finish()
    }
}

/// Why the agent binary cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum AgentBinaryError {
    #[error("cannot read the agent binary {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a Linux program (no ELF header)")]
    NotElf { path: PathBuf },
    #[error(
        "{path} is a program for a machine type this dashboard does not know \
         (it serves x86_64, aarch64, i686 and riscv64 agents)"
    )]
    UnknownMachine { path: PathBuf },
    #[error("{first} and {second} are both agents for {arch}: give one per machine type")]
    SameMachine {
        first: PathBuf,
        second: PathBuf,
        arch: &'static str,
    },
}

impl AgentBinary {
    /// Reads and hashes the file at `path` (off the async runtime: it is megabytes).
    pub async fn load(path: &Path) -> Result<AgentBinary, AgentBinaryError> {
        let owned = path.to_owned();
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| AgentBinaryError::Read {
                path: owned.clone(),
                source,
            })?;
        tokio::task::spawn_blocking(move || AgentBinary::from_bytes(bytes, &owned))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// The binary from its bytes; `path` only names it in errors.
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<AgentBinary, AgentBinaryError> {
        if !bytes.starts_with(b"\x7fELF") {
            return Err(AgentBinaryError::NotElf {
                path: path.to_owned(),
            });
        }
        let arch = elf_machine(&bytes).ok_or_else(|| AgentBinaryError::UnknownMachine {
            path: path.to_owned(),
        })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(AgentBinary {
            bytes: Bytes::from(bytes),
            sha256,
            arch,
        })
    }

    /// The file's contents.
    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }

    /// Its SHA-256, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The machine it runs on, as `uname -m` names it.
    pub fn arch(&self) -> &'static str {
        self.arch
    }

    /// Its size in bytes.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Whether the file is empty (it never is: it has an ELF header).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Where the agent binary is looked for when `--agent-binary` is not given: beside
/// the running `homelab-cmd`, which is where `cargo build --release` and the
/// packages put it.
pub fn default_path() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("homelab-agent"))
}

/// The ELF header's `e_machine`, as `uname -m` spells it: so that the install
/// script can refuse to put an x86-64 agent on a Raspberry Pi.
fn elf_machine(bytes: &[u8]) -> Option<&'static str> {
    // e_ident[EI_DATA] (offset 5): 1 little-endian, 2 big-endian; e_machine at 18.
    let raw = [*bytes.get(18)?, *bytes.get(19)?];
    let machine = match bytes.get(5)? {
        1 => u16::from_le_bytes(raw),
        2 => u16::from_be_bytes(raw),
        _ => return None,
    };
    // e_ident[EI_CLASS] (offset 4): 1 for 32-bit, 2 for 64-bit.
    let class64 = *bytes.get(4)? == 2;
    Some(match (machine, class64) {
        (0x3e, true) => "x86_64",
        (0xb7, true) => "aarch64",
        (0x03, false) => "i686",
        (0xf3, true) => "riscv64",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class: u8, data: u8, machine: u16) -> Vec<u8> {
        let mut bytes = b"\x7fELF".to_vec();
        bytes.extend([class, data, 1, 0]);
        bytes.resize(18, 0);
        let m = if data == 1 {
            machine.to_le_bytes()
        } else {
            machine.to_be_bytes()
        };
        bytes.extend(m);
        bytes.resize(64, 0);
        bytes
    }

    #[test]
    fn the_machine_is_read_from_the_elf_header() {
        let path = Path::new("x");
        let arch = |b| AgentBinary::from_bytes(b, path).map(|a| a.arch());
        assert_eq!(arch(header(2, 1, 0x3e)).unwrap(), "x86_64");
        assert_eq!(arch(header(2, 1, 0xb7)).unwrap(), "aarch64");
        assert_eq!(arch(header(1, 1, 0x03)).unwrap(), "i686");
        // A PowerPC program, a 32-bit ARM one, and a header cut short are refused:
        // the install script could not tell which machines they are for.
        for unknown in [header(2, 2, 0x15), header(1, 1, 0x28), b"\x7fELF".to_vec()] {
            let err = arch(unknown).unwrap_err();
            assert!(
                matches!(err, AgentBinaryError::UnknownMachine { .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn the_checksum_is_sha256_of_the_bytes_and_non_elf_files_are_refused() {
        let bytes = header(2, 1, 0x3e);
        let binary = AgentBinary::from_bytes(bytes.clone(), Path::new("x")).unwrap();
        assert_eq!(binary.sha256(), hex::encode(Sha256::digest(&bytes)));
        assert_eq!(binary.len(), 64);
        assert!(matches!(
            AgentBinary::from_bytes(b"#!/bin/sh\n".to_vec(), Path::new("x")),
            Err(AgentBinaryError::NotElf { .. })
        ));
    }

    #[test]
    fn this_machine_is_recognised() {
        use std::io::Read as _;
        // The test binary itself is an ELF file for this machine; its header is enough.
        let exe = std::env::current_exe().unwrap();
        let mut head = vec![0; 64];
        std::fs::File::open(&exe)
            .unwrap()
            .read_exact(&mut head)
            .unwrap();
        let binary = AgentBinary::from_bytes(head, &exe).unwrap();
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_eq!(binary.arch(), "x86_64");
        }
        if cfg!(all(target_os = "linux", target_arch = "aarch64")) {
            assert_eq!(binary.arch(), "aarch64");
        }
    }
}

//! Open files: each simulated agent holds a long-poll connection and sometimes a
//! second one for its heartbeat, so 10,000 agents need more than the usual 1,024.

use rustix::process::{Resource, getrlimit, setrlimit};

/// Raises the soft limit on open files to the hard limit, and returns the new soft
/// limit (None: unlimited).
pub fn raise_open_files() -> std::io::Result<Option<u64>> {
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit)?;
    }
    Ok(getrlimit(Resource::Nofile).current)
}

/// Connections a run of `agents` agents may hold at once: a long-poll each, a
/// heartbeat for some, and a few for the API.
pub fn files_needed(agents: usize) -> u64 {
    (agents as u64) * 2 + 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_the_hard_one() {
        let soft = raise_open_files().unwrap();
        assert_eq!(soft, getrlimit(Resource::Nofile).maximum);
    }
}

//! The output a running action printed since the server last heard of it. The
//! runner's readers add to it as the command prints; the progress loop takes it about
//! once a second ([`homelab_protocol::OUTPUT_EVERY`]) and sends it, so the action
//! page shows the command's output while it runs. Bounded: if the server is slow or
//! away, only the last [`MAX_CHUNK_BYTES`] of each stream wait (the result carries
//! the whole tail anyway).

use std::sync::Mutex;

use homelab_protocol::{MAX_CHUNK_BYTES, Progress};

/// Which of the command's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Output not yet sent.
#[derive(Debug, Default)]
pub struct Fresh {
    unsent: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl Fresh {
    /// Adds bytes the command printed, keeping the last [`MAX_CHUNK_BYTES`].
    pub fn push(&self, stream: Stream, bytes: &[u8]) {
        let mut unsent = self.lock();
        let buf = match stream {
            Stream::Stdout => &mut unsent.0,
            Stream::Stderr => &mut unsent.1,
        };
        buf.extend_from_slice(bytes);
        let excess = buf.len().saturating_sub(MAX_CHUNK_BYTES);
        buf.drain(..excess);
    }

    /// Everything printed since the last call, as text. A character cut in half by
    /// a read stays for the next call, so the two halves are never shown as two
    /// replacement characters.
    pub fn take(&self) -> Progress {
        let mut unsent = self.lock();
        Progress {
            stdout: complete_text(&mut unsent.0),
            stderr: complete_text(&mut unsent.1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<u8>, Vec<u8>)> {
        self.unsent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Takes the text out of `buf`, leaving an incomplete character at its end there.
fn complete_text(buf: &mut Vec<u8>) -> String {
    let whole = match std::str::from_utf8(buf) {
        Ok(_) => buf.len(),
        // Only an unfinished sequence at the very end waits; invalid bytes are
        // shown as replacement characters.
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => incomplete_tail_start(buf),
    };
    let rest = buf.split_off(whole);
    let text = String::from_utf8_lossy(buf)
        // A cut at the front of the kept tail may split a character.
        .trim_start_matches('\u{FFFD}')
        .to_owned();
    *buf = rest;
    text
}

/// Where a trailing, unfinished UTF-8 sequence starts (the length when there is
/// none).
fn incomplete_tail_start(buf: &[u8]) -> usize {
    for back in 1..=3.min(buf.len()) {
        let at = buf.len() - back;
        let byte = buf[at];
        let needs = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            0x80..=0xBF => continue,
            _ => return buf.len(),
        };
        return if needs > back { at } else { buf.len() };
    }
    buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_reads_is_sent_whole_once_complete() {
        let fresh = Fresh::default();
        let e_acute = "é".as_bytes();
        fresh.push(Stream::Stdout, b"caf");
        fresh.push(Stream::Stdout, &e_acute[..1]);
        assert_eq!(fresh.take().stdout, "caf");
        fresh.push(Stream::Stdout, &e_acute[1..]);
        fresh.push(Stream::Stderr, b"W: x\n");
        let next = fresh.take();
        assert_eq!(
            (next.stdout.as_str(), next.stderr.as_str()),
            ("é", "W: x\n")
        );
        assert!(fresh.take().is_empty());
    }

    #[test]
    fn invalid_bytes_are_replaced_and_a_split_tail_still_waits() {
        let fresh = Fresh::default();
        fresh.push(Stream::Stdout, b"a\xFFb\xE2\x82");
        assert_eq!(fresh.take().stdout, "a\u{FFFD}b");
        fresh.push(Stream::Stdout, b"\xAC");
        assert_eq!(fresh.take().stdout, "€");
    }

    #[test]
    fn a_flood_keeps_only_the_last_chunk_and_always_fits_one_call() {
        let fresh = Fresh::default();
        for _ in 0..100 {
            fresh.push(Stream::Stdout, &[b'x'; 16 * 1024]);
        }
        fresh.push(Stream::Stdout, b"THE END\n");
        let sent = fresh.take();
        assert_eq!(sent.stdout.len(), MAX_CHUNK_BYTES);
        assert!(sent.stdout.ends_with("THE END\n"));
        assert!(sent.validate().is_ok());
    }
}

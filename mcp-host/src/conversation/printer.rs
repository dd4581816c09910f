//! The answer on stdout as it is written.

use std::{
    io::Write as _,
    sync::atomic::{AtomicBool, Ordering},
};

use crate::agent::Output;

/// Writes each piece of an answer to stdout as it arrives (flushed, so a streamed answer
/// shows as it is written), and ends the answer on a line of its own.
#[derive(Debug, Default)]
pub(crate) struct Printer {
    /// Something was written since the last [`Printer::finish`].
    wrote: AtomicBool,
    /// The last piece written ended a line.
    at_line_start: AtomicBool,
}

impl Printer {
    /// Ends the answer: a newline unless the last piece wrote one. Returns whether any
    /// text was written.
    pub(crate) fn finish(&self) -> bool {
        let wrote = self.wrote.swap(false, Ordering::Relaxed);
        if wrote && !self.at_line_start.load(Ordering::Relaxed) {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout);
            let _ = stdout.flush();
        }
        self.at_line_start.store(true, Ordering::Relaxed);
        wrote
    }
}

impl Output for Printer {
    fn text(&self, piece: &str) {
        if piece.is_empty() {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(piece.as_bytes());
        let _ = stdout.flush();
        self.wrote.store(true, Ordering::Relaxed);
        self.at_line_start
            .store(piece.ends_with('\n'), Ordering::Relaxed);
    }

    fn end_of_step(&self) {
        if self.wrote.load(Ordering::Relaxed) && !self.at_line_start.load(Ordering::Relaxed) {
            self.text("\n");
        }
    }
}

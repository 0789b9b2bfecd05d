//! A one-line progress bar on stderr, drawn only when stderr is a terminal (logs and
//! pipes get the summary alone), at most ten times a second.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    on: bool,
    total: u64,
    done: u64,
    last: Option<Instant>,
    verb: &'static str,
}

impl Progress {
    /// `total` is in whatever unit [`Progress::advance`] counts (bytes or messages).
    pub fn new(verb: &'static str, total: u64) -> Progress {
        Progress {
            on: std::io::stderr().is_terminal(),
            total,
            done: 0,
            last: None,
            verb,
        }
    }

    pub fn advance(&mut self, by: u64, messages: u64, what: &str) {
        self.done = (self.done + by).min(self.total);
        if !self.on {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let frac = if self.total == 0 {
            1.0
        } else {
            self.done as f64 / self.total as f64
        };
        let width = 30;
        let filled = ((frac * width as f64) as usize).min(width);
        let what: String = what.chars().take(30).collect();
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[2K{} [{}{}] {:5.1}% {messages} messages  {what}",
            self.verb,
            "#".repeat(filled),
            " ".repeat(width - filled),
            frac * 100.0
        );
    }

    pub fn finish(&mut self) {
        if self.on && self.last.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

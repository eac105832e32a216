//! A plain-text progress bar for storage re-encryption, drawn on standard
//! error with `\r` and only when standard error is a terminal (logs and
//! pipes get no control characters).

use std::io::{IsTerminal, Write};

use crate::keys::storage::StorageProgress;

/// Width of the bar between the brackets.
const WIDTH: usize = 30;

/// One line of the bar: `[#########.....]  60%  6/10 rows re-encrypted`.
pub fn line(p: &StorageProgress) -> String {
    let done = p.total.saturating_sub(p.remaining);
    // done <= total, so the quotients stay within 0..=WIDTH and 0..=100;
    // an empty store counts as finished.
    let filled = done
        .saturating_mul(WIDTH as u64)
        .checked_div(p.total)
        .map_or(WIDTH, |f| f as usize);
    let pct = done.saturating_mul(100).checked_div(p.total).unwrap_or(100);
    format!(
        "[{}{}] {pct:>3}%  {done}/{} rows re-encrypted",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled.min(WIDTH)),
        p.total
    )
}

/// The bar on standard error, redrawn in place.
#[derive(Default)]
pub struct Bar {
    enabled: bool,
    drawn: bool,
}

impl Bar {
    /// A bar that draws only when standard error is a terminal.
    pub fn on_stderr() -> Bar {
        Bar {
            enabled: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// Redraws the bar for `p`.
    pub fn draw(&mut self, p: &StorageProgress) {
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{}", line(p));
            let _ = err.flush();
            self.drawn = true;
        }
    }

    /// Ends the bar's line so later output starts on a fresh one.
    pub fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_progress() {
        let p = |total, remaining| StorageProgress {
            active_id: 2,
            total,
            remaining,
        };
        assert_eq!(
            line(&p(10, 4)),
            format!(
                "[{}{}]  60%  6/10 rows re-encrypted",
                "#".repeat(18),
                ".".repeat(12)
            )
        );
        assert_eq!(
            line(&p(0, 0)),
            format!("[{}] 100%  0/0 rows re-encrypted", "#".repeat(30))
        );
        assert_eq!(
            line(&p(3, 3)),
            format!("[{}]   0%  0/3 rows re-encrypted", ".".repeat(30))
        );
    }
}

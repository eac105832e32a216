//! PINs for the CLI: from an environment variable, a file, or a prompt —
//! never from the command line, where other users could read them.

use std::io::{BufRead, IsTerminal, Write};

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Reads a PIN from `$<var>`, else from the file `$<var>_FILE`, else by
/// prompting on the terminal (input echo is not suppressed; prefer the
/// environment or a file in scripts).
pub fn read_pin(var: &str, what: &str) -> Result<Zeroizing<String>> {
    if let Ok(v) = std::env::var(var) {
        return Ok(Zeroizing::new(v));
    }
    let file_var = format!("{var}_FILE");
    if let Ok(path) = std::env::var(&file_var) {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::Config(format!("cannot read {what} from {path} (${file_var}): {e}"))
        })?;
        return Ok(Zeroizing::new(
            text.trim_end_matches(['\n', '\r']).to_string(),
        ));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Config(format!(
            "{what} needed: set ${var} or ${file_var}"
        )));
    }
    eprint!("{what}: ");
    let _ = std::io::stderr().flush();
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Config(format!("cannot read {what}: {e}")))?;
    Ok(Zeroizing::new(
        line.trim_end_matches(['\n', '\r']).to_string(),
    ))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_come_from_the_variable_then_the_file() {
        // Variable names unique to this test: tests run in parallel threads.
        std::env::set_var("KEYROTOR_CLI_TEST_PIN", "1234");
        assert_eq!(
            read_pin("KEYROTOR_CLI_TEST_PIN", "PIN")
                .expect("env")
                .as_str(),
            "1234"
        );
        let dir = std::env::temp_dir().join(format!("keyrotor-pin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("pin");
        std::fs::write(&file, "s3cret\n").expect("write");
        std::env::set_var("KEYROTOR_CLI_TEST_PIN2_FILE", &file);
        assert_eq!(
            read_pin("KEYROTOR_CLI_TEST_PIN2", "PIN")
                .expect("file")
                .as_str(),
            "s3cret"
        );
        std::env::set_var("KEYROTOR_CLI_TEST_PIN3_FILE", dir.join("missing"));
        let e = read_pin("KEYROTOR_CLI_TEST_PIN3", "PIN").err();
        assert!(matches!(&e, Some(Error::Config(m)) if m.contains("KEYROTOR_CLI_TEST_PIN3_FILE")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The `keyrotor` admin CLI: argument parsing, dispatch and exit codes. It
//! drives the same token layer the PKCS#11 module uses, without the C ABI in
//! between. Each subcommand family lives in its own file.

mod audit_cmd;
mod context;
pub mod error;
mod format;
mod key_cmd;
mod key_view;
mod manager_cmd;
mod pin;
mod policy_args;
mod policy_cmd;
mod progress;
mod signal;
mod status_cmd;
mod token_cmd;

use clap::{Parser, Subcommand};

pub use error::{EXIT_AUDIT, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE};

const AFTER_HELP: &str = "\
PINs are never command-line arguments. The user PIN comes from $KEYROTOR_PIN, else the file named by
$KEYROTOR_PIN_FILE, else a prompt on the terminal; the SO PIN likewise from $KEYROTOR_SO_PIN /
$KEYROTOR_SO_PIN_FILE. Commands that change keys need the user PIN; list, show, status and audit do not.

Exit codes:
  0  success
  1  the operation failed (the message says why)
  2  usage or configuration error (bad option, missing PIN, bad config file)
  3  audit verification failed (the audit log was tampered with)
  4  not found (no such key or version)";

/// keyrotor administration.
#[derive(Parser)]
#[command(
    name = "keyrotor",
    version,
    about = "Administer keyrotor PKCS#11 tokens and their rotating keys",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Configuration file (default: $KEYROTOR_CONF, then the XDG config, then built-in).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,
    /// Slot id to act on.
    #[arg(long, global = true, default_value_t = 0, value_name = "N")]
    pub slot: u64,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Token initialisation, information and storage-key rotation.
    Token {
        #[command(subcommand)]
        action: token_cmd::TokenAction,
    },
    /// Rotating keys: create, list, show, rotate, compromise, disable, enable, destroy, retire.
    Key {
        #[command(subcommand)]
        action: key_cmd::KeyAction,
    },
    /// A key's rotation and retention policy.
    Policy {
        #[command(subcommand)]
        action: policy_cmd::PolicyAction,
    },
    /// Every key at a glance: active version, next rotation, versions by
    /// state, storage re-encryption and the manager leader.
    Status,
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        action: audit_cmd::AuditAction,
    },
    /// The key manager.
    Manager {
        #[command(subcommand)]
        action: ManagerAction,
    },
}

#[derive(Subcommand)]
enum ManagerAction {
    /// Run the key manager in the foreground until SIGINT/SIGTERM (for
    /// hosts that forbid threads inside the library); needs the user PIN.
    Run {
        /// Run one round and exit.
        #[arg(long)]
        once: bool,
    },
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    let result = match &cli.command {
        Command::Token { action } => token_cmd::run(&cli, action),
        Command::Key { action } => key_cmd::run(&cli, action),
        Command::Policy { action } => policy_cmd::run(&cli, action),
        Command::Status => status_cmd::run(&cli),
        Command::Audit { action } => audit_cmd::run(&cli, action),
        Command::Manager {
            action: ManagerAction::Run { once },
        } => manager_cmd::run(&cli, *once),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            if let Some(m) = e.message() {
                eprintln!("keyrotor: {m}");
            }
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent_and_documents_exit_codes() {
        Cli::command().debug_assert();
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("4  not found"), "{help}");
        let cli = Cli::try_parse_from(["keyrotor", "key", "show", "k", "--json", "--slot", "3"])
            .expect("parses");
        assert!(cli.json);
        assert_eq!(cli.slot, 3);
        assert!(Cli::try_parse_from(["keyrotor", "key", "create", "k", "--bits", "512"]).is_err());
        assert!(Cli::try_parse_from(["keyrotor", "key", "retire", "k"]).is_err());
        let create = Cli::try_parse_from([
            "keyrotor", "key", "create", "k", "--id", "0a0b", "--bits", "128",
        ]);
        match create.map(|c| c.command) {
            Ok(Command::Key {
                action: key_cmd::KeyAction::Create { id, bits, .. },
            }) => {
                assert_eq!(id, Some(key_cmd::HexId(vec![0x0a, 0x0b])));
                assert_eq!(bits, 128);
            }
            _ => panic!("key create did not parse"),
        }
    }
}

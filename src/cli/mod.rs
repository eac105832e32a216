//! The `keyrotor` admin CLI: argument parsing and dispatch. It drives the
//! same token layer the PKCS#11 module uses, without the C ABI in between.

mod pin;
mod token_cmd;

use clap::{Parser, Subcommand};

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: the operation failed (the message says why).
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad usage or configuration.
pub const EXIT_USAGE: i32 = 2;

/// keyrotor administration.
#[derive(Parser)]
#[command(
    name = "keyrotor",
    version,
    about = "Administer keyrotor PKCS#11 tokens"
)]
pub struct Cli {
    /// Configuration file (default: $KEYROTOR_CONF, then the XDG config, then built-in).
    #[arg(long, global = true)]
    pub config: Option<std::path::PathBuf>,
    /// Slot id to act on.
    #[arg(long, global = true, default_value_t = 0)]
    pub slot: u64,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Token initialisation and information.
    Token {
        #[command(subcommand)]
        action: token_cmd::TokenAction,
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
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("keyrotor: {e}");
            match e {
                keyrotor_error @ crate::error::Error::Config(_) => {
                    let _ = keyrotor_error;
                    EXIT_USAGE
                }
                _ => EXIT_FAILED,
            }
        }
    }
}

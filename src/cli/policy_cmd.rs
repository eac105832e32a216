//! `keyrotor policy show|set`: read a key's rotation and retention policy,
//! or change some of its fields (the rest stay as they are).

use clap::Subcommand;
use serde_json::json;

use super::context::Ctx;
use super::error::{CliError, CliResult};
use super::format;
use super::policy_args::{self, PolicyArgs};
use super::Cli;
use crate::keys::{admin, clock};

/// Policy subcommands.
#[derive(Subcommand)]
pub enum PolicyAction {
    /// Show a key's policy.
    Show {
        /// The key's name.
        name: String,
    },
    /// Change the given fields of a key's policy.
    Set {
        /// The key's name.
        name: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

fn print_policy(ctx: &Ctx, name: &str) -> CliResult<()> {
    let ring = ctx.ring(name)?;
    let now = clock::now_ms();
    if ctx.json {
        println!(
            "{}",
            json!({
                "name": name,
                "policy": policy_args::to_json(&ring.policy),
                "next_rotation_at": ring.key.next_rotation_at,
            })
        );
        return Ok(());
    }
    println!("{:<25}{name}", "key");
    for (field, value) in policy_args::describe(&ring.policy) {
        println!("{field:<25}{value}");
    }
    let next = ring.key.next_rotation_at.map_or_else(
        || "manual only".into(),
        |t| format!("{} ({})", format::time(t), format::relative(t, now)),
    );
    println!("{:<25}{next}", "next rotation");
    Ok(())
}

/// Runs a policy subcommand.
pub fn run(cli: &Cli, action: &PolicyAction) -> CliResult<()> {
    let ctx = Ctx::open_token(cli)?;
    match action {
        PolicyAction::Show { name } => print_policy(&ctx, name),
        PolicyAction::Set { name, policy } => {
            if policy.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change; give at least one option (see `keyrotor policy set --help`)".into(),
                ));
            }
            let ring = ctx.ring(name)?;
            let new = policy.apply(&ring.policy)?;
            ctx.login_user()?;
            let n = name.clone();
            ctx.slot.run(move |s| admin::set_policy(s, n, new))?;
            if !ctx.json {
                println!("policy of {name} changed:");
            }
            print_policy(&ctx, name)
        }
    }
}

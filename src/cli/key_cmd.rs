//! `keyrotor key ...`: create, list, show, rotate, compromise, disable,
//! enable, destroy and retire rotating keys. Reads need no PIN; every
//! change logs the user in first, because new versions must be sealed.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;
use serde_json::json;

use super::context::{find_version, state_of, Ctx};
use super::error::{CliError, CliResult};
use super::format;
use super::key_view;
use super::policy_args::PolicyArgs;
use super::Cli;
use crate::keys::admin;
use crate::keys::clock;
use crate::keys::lifecycle::State;
use crate::keys::manager::Reason;

/// Key subcommands.
#[derive(Subcommand)]
pub enum KeyAction {
    /// Create a rotating AES key (version 1 active).
    Create {
        /// The key's name (its CKA_LABEL); no '@'.
        name: String,
        /// Key size in bits: 128, 192 or 256.
        #[arg(long, default_value_t = 256, value_parser = parse_bits)]
        bits: usize,
        /// CKA_ID in hex (default: 8 random bytes).
        #[arg(long, value_name = "HEX", value_parser = parse_id)]
        id: Option<HexId>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// List the keys.
    List,
    /// Show a key and its versions.
    Show {
        /// The key's name.
        name: String,
    },
    /// Rotate now: a new Active version; the old one stays Valid.
    Rotate {
        /// The key's name.
        name: String,
    },
    /// Declare a version compromised (default: the Active one, which
    /// triggers an emergency rotation).
    Compromise {
        /// The key's name.
        name: String,
        /// The version (default: the Active one).
        #[arg(long)]
        version: Option<u32>,
    },
    /// Put an administrative hold on one version (default: every version).
    Disable {
        /// The key's name.
        name: String,
        /// The version (default: all).
        #[arg(long)]
        version: Option<u32>,
    },
    /// Lift the hold from one version (default: every version).
    Enable {
        /// The key's name.
        name: String,
        /// The version (default: all).
        #[arg(long)]
        version: Option<u32>,
    },
    /// Destroy one version's material, or with no --version the whole key.
    /// Irreversible: data encrypted under it cannot be decrypted again.
    Destroy {
        /// The key's name.
        name: String,
        /// The version (never the Active one); default: the whole key.
        #[arg(long)]
        version: Option<u32>,
        /// Do not ask for confirmation (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Mark a Valid version as re-encrypted: it moves on to its grace period.
    Retire {
        /// The key's name.
        name: String,
        /// The version to retire.
        #[arg(long)]
        version: u32,
    },
}

/// A `CKA_ID` given in hex. A newtype, because clap reads a bare
/// `Vec<u8>` as "many u8 values".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HexId(pub Vec<u8>);

fn parse_id(s: &str) -> Result<HexId, String> {
    format::parse_hex(s).map(HexId)
}

/// An AES key size in bits.
fn parse_bits(s: &str) -> Result<usize, String> {
    match s {
        "128" | "192" | "256" => s.parse().map_err(|_| format!("{s} is not a number")),
        _ => Err(format!(
            "{s} is not an AES key size; expected 128, 192 or 256"
        )),
    }
}

/// Prints a one-line human message, or a JSON object with --json.
fn report(ctx: &Ctx, human: String, json: serde_json::Value) {
    if ctx.json {
        println!("{json}");
    } else {
        println!("{human}");
    }
}

/// Runs a key subcommand.
pub fn run(cli: &Cli, action: &KeyAction) -> CliResult<()> {
    let ctx = Ctx::open_token(cli)?;
    let now = clock::now_ms();
    match action {
        KeyAction::List => {
            ctx.slot.run(|s| s.reload())?;
            print!("{}", key_view::list(&ctx.slot.rings(), ctx.json, now));
            Ok(())
        }
        KeyAction::Show { name } => {
            let ring = ctx.ring(name)?;
            print!("{}", key_view::show(&ring, ctx.json, now));
            Ok(())
        }
        KeyAction::Create {
            name,
            bits,
            id,
            policy,
        } => create(&ctx, name, *bits, id.as_ref().map(|h| h.0.clone()), policy),
        KeyAction::Rotate { name } => {
            let old = ctx.ring(name)?.key.active_version;
            ctx.login_user()?;
            let n = name.clone();
            let v = ctx
                .slot
                .run(move |s| admin::rotate_now(s, n, Reason::Manual))?;
            report(
                &ctx,
                format!("rotated {name}: v{v} is active, v{old} is valid"),
                json!({ "name": name, "active_version": v, "previous_version": old }),
            );
            Ok(())
        }
        KeyAction::Compromise { name, version } => compromise(&ctx, name, *version),
        KeyAction::Disable { name, version } => hold(&ctx, name, *version, true),
        KeyAction::Enable { name, version } => hold(&ctx, name, *version, false),
        KeyAction::Destroy { name, version, yes } => destroy(&ctx, name, *version, *yes),
        KeyAction::Retire { name, version } => {
            let ring = ctx.ring(name)?;
            let row = find_version(&ring, *version)?;
            if state_of(row) != Some(State::Valid) {
                return Err(CliError::Failed(format!(
                    "{name} v{version} is {}; only Valid versions can be retired",
                    key_view::state_label(row)
                )));
            }
            ctx.login_user()?;
            let (n, v) = (name.clone(), *version);
            ctx.slot.run(move |s| admin::retire(s, n, v))?;
            report(
                &ctx,
                format!("retired {name} v{version}: it is in its grace period now"),
                json!({ "name": name, "version": version, "state": "grace" }),
            );
            Ok(())
        }
    }
}

fn create(
    ctx: &Ctx,
    name: &str,
    bits: usize,
    id: Option<Vec<u8>>,
    args: &PolicyArgs,
) -> CliResult<()> {
    if name.is_empty() || name.contains('@') {
        return Err(CliError::Usage(format!(
            "{name:?} cannot be a key name: it must be non-empty and without '@' (versions are name@vN)"
        )));
    }
    let policy = args.apply(&ctx.slot.default_policy)?;
    ctx.slot.run(|s| s.reload())?;
    if ctx.slot.rings().iter().any(|r| r.key.name == name) {
        return Err(CliError::Failed(format!(
            "a key named {name:?} exists already; see `keyrotor key show {name}`"
        )));
    }
    let id = match id {
        Some(id) => id,
        None => crate::mech::primitives::rng::random_array::<8>()?.to_vec(),
    };
    ctx.login_user()?;
    let (n, hex_id) = (name.to_string(), format::hex(&id));
    ctx.slot
        .run(move |s| admin::create_named(s, n, bits / 8, id, policy))?;
    let ring = ctx.ring(name)?;
    report(
        ctx,
        format!("created {name} ({bits}-bit AES, id {hex_id}): v1 is active"),
        key_view::ring_json(&ring),
    );
    Ok(())
}

fn compromise(ctx: &Ctx, name: &str, version: Option<u32>) -> CliResult<()> {
    let ring = ctx.ring(name)?;
    let target = version.unwrap_or(ring.key.active_version);
    let row = find_version(&ring, target)?;
    if state_of(row) == Some(State::Destroyed) {
        return Err(CliError::Failed(format!(
            "{name} v{target} is destroyed already"
        )));
    }
    if state_of(row) == Some(State::Compromised) {
        // Marking it again would restart its retention clock; say so instead.
        report(
            ctx,
            format!("{name} v{target} is compromised already; nothing to do"),
            json!({ "name": name, "compromised_version": target, "active_version": ring.key.active_version }),
        );
        return Ok(());
    }
    ctx.login_user()?;
    let n = name.to_string();
    let v = ctx.slot.run(move |s| admin::compromise(s, n, version))?;
    if target == ring.key.active_version {
        report(
            ctx,
            format!("{name} v{target} is compromised; emergency rotation: v{v} is active"),
            json!({ "name": name, "compromised_version": target, "active_version": v }),
        );
    } else {
        report(
            ctx,
            format!("{name} v{target} is compromised"),
            json!({ "name": name, "compromised_version": target, "active_version": ring.key.active_version }),
        );
    }
    Ok(())
}

fn hold(ctx: &Ctx, name: &str, version: Option<u32>, held: bool) -> CliResult<()> {
    let ring = ctx.ring(name)?;
    if let Some(v) = version {
        find_version(&ring, v)?;
    }
    ctx.login_user()?;
    let n = name.to_string();
    ctx.slot
        .run(move |s| admin::set_hold(s, n, version, held))?;
    let verb = if held { "disabled" } else { "enabled" };
    let which = version.map_or_else(|| "every version of".to_string(), |v| format!("v{v} of"));
    report(
        ctx,
        format!("{verb} {which} {name}"),
        json!({ "name": name, "version": version, "disabled": held }),
    );
    let active_held = held && version.is_none_or(|v| v == ring.key.active_version);
    if active_held && !ctx.json {
        eprintln!(
            "note: the Active version is disabled: {name} cannot encrypt (or rotate on schedule) until \
             `keyrotor key enable {name}`"
        );
    }
    Ok(())
}

/// Asks on the terminal for the key name; refuses outside a terminal.
fn confirm(what: &str, name: &str) -> CliResult<()> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(CliError::Usage(format!(
            "refusing to destroy {what} without confirmation; add --yes (not on a terminal)"
        )));
    }
    eprint!(
        "Destroy {what}? Its key material is erased and data encrypted under it can never be decrypted \
         again.\nType the key name to confirm: "
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Failed(format!("cannot read the confirmation: {e}")))?;
    if line.trim() != name {
        return Err(CliError::Failed(
            "not confirmed; nothing was destroyed".into(),
        ));
    }
    Ok(())
}

fn destroy(ctx: &Ctx, name: &str, version: Option<u32>, yes: bool) -> CliResult<()> {
    let ring = ctx.ring(name)?;
    let what = match version {
        Some(v) => {
            let row = find_version(&ring, v)?;
            if v == ring.key.active_version {
                return Err(CliError::Failed(format!(
                    "v{v} is the Active version of {name}; rotate first (`keyrotor key rotate {name}`)"
                )));
            }
            if state_of(row) == Some(State::Destroyed) {
                report(
                    ctx,
                    format!("{name} v{v} is destroyed already; nothing to do"),
                    json!({ "name": name, "version": v, "destroyed": true }),
                );
                return Ok(());
            }
            format!("{name} v{v}")
        }
        None => format!(
            "the key {name} with all its versions ({})",
            ring.versions.len()
        ),
    };
    if !yes {
        confirm(&what, name)?;
    }
    ctx.login_user()?;
    let n = name.to_string();
    ctx.slot.run(move |s| admin::destroy(s, n, version))?;
    report(
        ctx,
        format!("destroyed {what}"),
        json!({ "name": name, "version": version, "destroyed": true }),
    );
    Ok(())
}

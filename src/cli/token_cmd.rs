//! `keyrotor token init|info|rotate-storage-key`.

use clap::Subcommand;
use serde_json::json;

use super::context::Ctx;
use super::error::{CliError, CliResult};
use super::pin::read_pin;
use super::progress::Bar;
use super::{signal, Cli};
use crate::keys::{manager, storage};
use crate::token::library;

/// Token subcommands.
#[derive(Subcommand)]
pub enum TokenAction {
    /// Initialise (or wipe and re-initialise) the token; SO PIN from
    /// $KEYROTOR_SO_PIN, user PIN (with --with-user-pin) from $KEYROTOR_PIN.
    Init {
        /// Token label (1–32 bytes).
        #[arg(long)]
        label: String,
        /// Also set the user PIN from $KEYROTOR_PIN.
        #[arg(long)]
        with_user_pin: bool,
    },
    /// Show the token's state.
    Info,
    /// Start a new storage key (the data key sealing stored key material);
    /// the manager re-encrypts stored material under it in the background.
    RotateStorageKey {
        /// Wait until everything is re-encrypted, running the manager here.
        #[arg(long)]
        wait: bool,
    },
}

fn init(ctx: &Ctx, label: &str, with_user_pin: bool) -> CliResult<()> {
    if label.is_empty() || label.len() > 32 {
        return Err(CliError::Usage(format!(
            "the label must be 1 to 32 bytes (got {})",
            label.len()
        )));
    }
    // Both PINs first, so a missing one never leaves a half-made token.
    let so = read_pin("KEYROTOR_SO_PIN", "SO PIN")?;
    let user = if with_user_pin {
        Some(read_pin("KEYROTOR_PIN", "user PIN")?)
    } else {
        None
    };
    let slot = &ctx.slot;
    library::with(|lib| slot.init_token(so.as_bytes(), label, &lib.session_facts(slot.id)))?;
    if let Some(user) = user {
        library::with(|lib| {
            let h = lib.open_session(
                slot.id,
                cryptoki_sys::CKF_SERIAL_SESSION | cryptoki_sys::CKF_RW_SESSION,
            )?;
            let r = slot
                .login(
                    cryptoki_sys::CKU_SO,
                    so.as_bytes(),
                    &lib.session_facts(slot.id),
                )
                .and_then(|()| slot.init_user_pin(user.as_bytes()));
            lib.close_session(h)?;
            r
        })?;
    }
    if ctx.json {
        println!(
            "{}",
            json!({ "slot": slot.id, "label": label, "user_pin_initialized": with_user_pin })
        );
    } else {
        println!(
            "token in slot {} initialised with label {label:?}{}",
            slot.id,
            if with_user_pin { " and a user PIN" } else { "" }
        );
    }
    Ok(())
}

fn info(ctx: &Ctx) -> CliResult<()> {
    let slot = &ctx.slot;
    slot.reload_if_stale()?;
    let token = slot.token.read().clone();
    let (label, serial, user_pin) = match &token {
        Some(t) => (t.label.clone(), t.serial.clone(), t.user_key.is_some()),
        None => (String::new(), String::new(), false),
    };
    let keys = slot.rings().len();
    let objects = slot.objects.snapshot().len();
    if ctx.json {
        println!(
            "{}",
            json!({
                "slot": slot.id,
                "initialized": token.is_some(),
                "label": label,
                "serial": serial,
                "user_pin_initialized": user_pin,
                "keys": keys,
                "objects": objects,
            })
        );
    } else {
        println!("slot                  {}", slot.id);
        println!("initialized           {}", token.is_some());
        println!("label                 {label}");
        println!("serial                {serial}");
        println!("user PIN initialized  {user_pin}");
        println!("rotating keys         {keys}");
        println!("token objects         {objects}");
    }
    Ok(())
}

fn rotate_storage_key(ctx: &Ctx, wait: bool) -> CliResult<()> {
    ctx.login_user()?;
    let id = ctx.slot.run(storage::rotate_storage_key)?;
    let mut p = ctx.slot.run(storage::progress)?;
    if wait {
        signal::install();
        let mut bar = Bar::on_stderr();
        bar.draw(&p);
        while p.remaining > 0 && !signal::stop_requested() {
            // A failed tick is retried; another process may be leading anyway.
            if let Err(e) = ctx
                .slot
                .run(|s| async move { manager::tick_once(&s).await })
            {
                tracing::warn!(error = %e, "manager tick failed while waiting for re-encryption");
            }
            p = ctx.slot.run(storage::progress)?;
            bar.draw(&p);
            if p.remaining > 0 {
                signal::sleep(manager::TICK);
            }
        }
        bar.finish();
        if p.remaining > 0 {
            return Err(CliError::Failed(format!(
                "stopped waiting with {} of {} rows still to re-encrypt; the manager finishes them in any \
                 process logged in to the token (see `keyrotor status`)",
                p.remaining, p.total
            )));
        }
    }
    if ctx.json {
        println!(
            "{}",
            json!({ "data_key": id, "total": p.total, "remaining": p.remaining })
        );
    } else if p.remaining == 0 {
        println!(
            "storage key rotated: data key {id} is active; all {} sealed rows are re-encrypted",
            p.total
        );
    } else {
        println!(
            "storage key rotated: data key {id} is active; {} of {} rows still to re-encrypt in the \
             background (watch with `keyrotor status`, or rerun with --wait)",
            p.remaining, p.total
        );
    }
    Ok(())
}

/// Runs a token subcommand.
pub fn run(cli: &Cli, action: &TokenAction) -> CliResult<()> {
    match action {
        TokenAction::Init {
            label,
            with_user_pin,
        } => init(&Ctx::open(cli)?, label, *with_user_pin),
        TokenAction::Info => info(&Ctx::open(cli)?),
        TokenAction::RotateStorageKey { wait } => rotate_storage_key(&Ctx::open_token(cli)?, *wait),
    }
}

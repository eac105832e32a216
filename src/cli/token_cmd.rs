//! `keyrotor token init|info`.

use clap::Subcommand;

use super::pin::read_pin;
use super::Cli;
use crate::error::Result;
use crate::token::library;

/// Token subcommands.
#[derive(Subcommand)]
pub enum TokenAction {
    /// Initialise (or wipe and re-initialise) the token; SO PIN from
    /// $KEYROTOR_SO_PIN, user PIN (optional) from $KEYROTOR_PIN.
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
}

fn open(cli: &Cli) -> Result<()> {
    let conf = cli
        .config
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    library::initialize(conf.as_deref())
}

/// Runs a token subcommand.
pub fn run(cli: &Cli, action: &TokenAction) -> Result<()> {
    open(cli)?;
    let result = library::with(|lib| {
        let slot = lib.slot(cli.slot as cryptoki_sys::CK_SLOT_ID)?.clone();
        match action {
            TokenAction::Init {
                label,
                with_user_pin,
            } => {
                let so = read_pin("KEYROTOR_SO_PIN", "SO PIN")?;
                slot.init_token(so.as_bytes(), label, &lib.session_facts(slot.id))?;
                if *with_user_pin {
                    let user = read_pin("KEYROTOR_PIN", "user PIN")?;
                    let h = lib.open_session(
                        slot.id,
                        cryptoki_sys::CKF_SERIAL_SESSION | cryptoki_sys::CKF_RW_SESSION,
                    )?;
                    slot.login(
                        cryptoki_sys::CKU_SO,
                        so.as_bytes(),
                        &lib.session_facts(slot.id),
                    )?;
                    let r = slot.init_user_pin(user.as_bytes());
                    lib.close_session(h)?;
                    r?;
                }
                println!("token in slot {} initialised with label {label:?}", slot.id);
                Ok(())
            }
            TokenAction::Info => {
                let token = slot.token.read().clone();
                let (label, serial, user_pin) = match &token {
                    Some(t) => (t.label.clone(), t.serial.clone(), t.user_key.is_some()),
                    None => (String::new(), String::new(), false),
                };
                let objects = slot.objects.snapshot().len();
                if cli.json {
                    println!(
                        "{{\"slot\":{},\"initialized\":{},\"label\":{:?},\"serial\":{:?},\"user_pin_initialized\":{},\"objects\":{}}}",
                        slot.id,
                        token.is_some(),
                        label,
                        serial,
                        user_pin,
                        objects
                    );
                } else {
                    println!("slot                  {}", slot.id);
                    println!("initialized           {}", token.is_some());
                    println!("label                 {label}");
                    println!("serial                {serial}");
                    println!("user PIN initialized  {user_pin}");
                    println!("token objects         {objects}");
                }
                Ok(())
            }
        }
    });
    let _ = library::finalize();
    result
}

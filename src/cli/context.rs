//! The library as one CLI command uses it: initialised from `--config`, the
//! chosen slot, the user login that unlocks the storage keys, key and
//! version lookups with "not found" errors, and `C_Finalize` on the way out.

use std::sync::Arc;

use super::error::{CliError, CliResult};
use super::pin::read_pin;
use super::Cli;
use crate::keys::lifecycle::State;
use crate::store::VersionRecord;
use crate::token::library;
use crate::token::slot::{KeyRing, Slot};

/// An initialised library and the slot a command acts on. Dropping it
/// finalises the library (closing the store and stopping its threads).
pub struct Ctx {
    /// The slot named by `--slot`.
    pub slot: Arc<Slot>,
    /// `--json` was given.
    pub json: bool,
}

impl Ctx {
    /// Initialises the library from `--config` (or discovery) and picks
    /// the slot.
    pub fn open(cli: &Cli) -> CliResult<Ctx> {
        let conf = cli
            .config
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        library::initialize(conf.as_deref())?;
        let want = cli.slot;
        let slot = library::with(|lib| {
            let ids: Vec<String> = lib.slots.iter().map(|s| s.id.to_string()).collect();
            Ok(lib
                .slot(want as cryptoki_sys::CK_SLOT_ID)
                .map(Arc::clone)
                .map_err(|_| {
                    format!(
                        "no slot {want} in the configuration; slots: {}",
                        ids.join(", ")
                    )
                }))
        });
        match slot {
            Ok(Ok(slot)) => Ok(Ctx {
                slot,
                json: cli.json,
            }),
            Ok(Err(msg)) => {
                let _ = library::finalize();
                Err(CliError::Usage(msg))
            }
            Err(e) => {
                let _ = library::finalize();
                Err(e.into())
            }
        }
    }

    /// Like [`Ctx::open`], and the token must be initialised.
    pub fn open_token(cli: &Cli) -> CliResult<Ctx> {
        let ctx = Ctx::open(cli)?;
        ctx.slot.reload_if_stale()?;
        if !ctx.slot.initialized() {
            return Err(CliError::Failed(format!(
                "the token in slot {} is not initialised; run `keyrotor token init --label L --with-user-pin`",
                ctx.slot.id
            )));
        }
        Ok(ctx)
    }

    /// Logs the user in (PIN from `$KEYROTOR_PIN`, `$KEYROTOR_PIN_FILE` or a
    /// prompt), which unlocks the storage keys that seal new versions.
    pub fn login_user(&self) -> CliResult<()> {
        let pin = read_pin("KEYROTOR_PIN", "user PIN")?;
        library::with(|lib| {
            self.slot.login(
                cryptoki_sys::CKU_USER,
                pin.as_bytes(),
                &lib.session_facts(self.slot.id),
            )
        })?;
        Ok(())
    }

    /// The key called `name`, read fresh from the store.
    pub fn ring(&self, name: &str) -> CliResult<Arc<KeyRing>> {
        self.slot.run(|s| s.reload())?;
        find_ring(&self.slot.rings(), name)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // Nothing useful to do if finalising fails on the way out.
        let _ = library::finalize();
    }
}

/// The key called `name` among `rings`, or a "not found" naming the fix.
pub fn find_ring(rings: &[Arc<KeyRing>], name: &str) -> CliResult<Arc<KeyRing>> {
    rings
        .iter()
        .find(|r| r.key.name == name)
        .cloned()
        .ok_or_else(|| {
            CliError::NotFound(format!("no key named {name:?}; see `keyrotor key list`"))
        })
}

/// Version `v` of `ring`, or a "not found" listing the versions there are.
pub fn find_version(ring: &KeyRing, v: u32) -> CliResult<&VersionRecord> {
    ring.versions
        .iter()
        .find(|r| r.version == v)
        .ok_or_else(|| {
            let have: Vec<String> = ring
                .versions
                .iter()
                .map(|r| format!("v{}", r.version))
                .collect();
            CliError::NotFound(format!(
                "{} has no version {v}; it has {} (see `keyrotor key show {}`)",
                ring.key.name,
                have.join(", "),
                ring.key.name
            ))
        })
}

/// The lifecycle state of a version row.
pub fn state_of(v: &VersionRecord) -> Option<State> {
    State::from_u8(v.state)
}

/// The state's name, `unknown(N)` for a number this build does not know.
pub fn state_name(v: &VersionRecord) -> String {
    state_of(v).map_or_else(|| format!("unknown({})", v.state), |s| s.name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::policy::Policy;
    use crate::store::KeyRecord;

    fn ring() -> Arc<KeyRing> {
        let v = |n: u32, state: State| VersionRecord {
            key_uid: "k".into(),
            version: n,
            version_uid: format!("v{n}"),
            state: state as u8,
            held: false,
            created_at: 0,
            activated_at: Some(0),
            deactivated_at: None,
            grace_at: None,
            revoked_at: None,
            destroyed_at: None,
            compromised_at: None,
            sealed: None,
            encrypt_count: 0,
            decrypt_count: 0,
            iv_reserved: 0,
        };
        Arc::new(KeyRing {
            key: KeyRecord {
                key_uid: "k".into(),
                name: "payments".into(),
                ck_id: vec![],
                public: vec![],
                policy: "{}".into(),
                active_version: 2,
                next_rotation_at: None,
                created_at: 0,
                updated_at: 0,
            },
            policy: Policy::default(),
            versions: vec![v(1, State::Valid), v(2, State::Active)],
        })
    }

    #[test]
    fn lookups_fail_with_not_found_and_a_hint() {
        let rings = vec![ring()];
        assert!(find_ring(&rings, "payments").is_ok());
        let e = find_ring(&rings, "nope").err();
        assert!(matches!(&e, Some(CliError::NotFound(m)) if m.contains("keyrotor key list")));
        let r = ring();
        assert_eq!(find_version(&r, 1).map(|v| v.version).ok(), Some(1));
        let e = find_version(&r, 7).err();
        assert!(matches!(&e, Some(CliError::NotFound(m)) if m.contains("v1, v2")));
        assert_eq!(state_name(&r.versions[1]), "active");
    }
}

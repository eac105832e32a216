//! The [`Store`] trait for [`SqliteStore`]: one line per method, routing to the module that
//! holds its SQL.

use async_trait::async_trait;

use super::{audit, data_keys, keys, lease, token, versions, SqliteStore};
use crate::error::Result;
use crate::store::{
    AuditDraft, AuditEntry, DataKeyRecord, KeyChanges, KeyRecord, ObjectRecord, PinRole, SealedRef,
    Store, TokenRecord, VersionRecord, WrappedStorageKey,
};

#[async_trait]
impl Store for SqliteStore {
    async fn load_token(&self) -> Result<Option<TokenRecord>> {
        token::load_token(self).await
    }

    async fn init_token(
        &self,
        rec: &TokenRecord,
        first_data_key: &DataKeyRecord,
        audit: &AuditDraft,
    ) -> Result<()> {
        token::init_token(self, rec, first_data_key, audit).await
    }

    async fn set_pin(&self, role: PinRole, key: &WrappedStorageKey) -> Result<()> {
        token::set_pin(self, role, key).await
    }

    async fn record_login_failure(&self, role: PinRole) -> Result<u32> {
        token::record_login_failure(self, role).await
    }

    async fn reset_login_failures(&self, role: PinRole) -> Result<()> {
        token::reset_login_failures(self, role).await
    }

    async fn insert_object(&self, rec: &ObjectRecord) -> Result<()> {
        token::insert_object(self, rec).await
    }

    async fn update_object(&self, rec: &ObjectRecord) -> Result<()> {
        token::update_object(self, rec).await
    }

    async fn delete_object(&self, uid: &str) -> Result<()> {
        token::delete_object(self, uid).await
    }

    async fn load_objects(&self) -> Result<Vec<ObjectRecord>> {
        token::load_objects(self).await
    }

    async fn load_data_keys(&self) -> Result<Vec<DataKeyRecord>> {
        data_keys::load(self).await
    }

    async fn add_data_key(&self, rec: &DataKeyRecord, audit: &AuditDraft) -> Result<()> {
        data_keys::add(self, rec, audit).await
    }

    async fn retire_data_key(&self, id: u32, audit: &AuditDraft) -> Result<()> {
        data_keys::retire(self, id, audit).await
    }

    async fn sealed_rows(
        &self,
        after: Option<&SealedRef>,
        limit: usize,
    ) -> Result<Vec<(SealedRef, Vec<u8>)>> {
        data_keys::sealed_rows(self, after, limit).await
    }

    async fn replace_sealed(&self, r: &SealedRef, old: &[u8], new: &[u8]) -> Result<bool> {
        data_keys::replace_sealed(self, r, old, new).await
    }

    async fn create_key(
        &self,
        key: &KeyRecord,
        first: &VersionRecord,
        audit: &AuditDraft,
    ) -> Result<()> {
        keys::create(self, key, first, audit).await
    }

    async fn load_keys(&self) -> Result<Vec<(KeyRecord, Vec<VersionRecord>)>> {
        keys::load(self).await
    }

    async fn load_keys_since(&self, since: u64, all_uids: bool) -> Result<KeyChanges> {
        keys::load_since(self, since, all_uids).await
    }

    async fn rotate_key(
        &self,
        key_uid: &str,
        expected_active: u32,
        new: &VersionRecord,
        old_changes: &VersionRecord,
        next_rotation_at: Option<i64>,
        audit: &AuditDraft,
    ) -> Result<bool> {
        keys::rotate(
            self,
            key_uid,
            expected_active,
            new,
            old_changes,
            next_rotation_at,
            audit,
        )
        .await
    }

    async fn update_versions(
        &self,
        key_uid: &str,
        rows: &[VersionRecord],
        audit: &[AuditDraft],
    ) -> Result<()> {
        versions::update(self, key_uid, rows, audit).await
    }

    async fn update_key(&self, key: &KeyRecord, audit: &AuditDraft) -> Result<()> {
        keys::update(self, key, audit).await
    }

    async fn delete_key(&self, key_uid: &str, audit: &AuditDraft) -> Result<()> {
        keys::delete(self, key_uid, audit).await
    }

    async fn add_counts(
        &self,
        key_uid: &str,
        version: u32,
        encrypts: u64,
        decrypts: u64,
    ) -> Result<()> {
        versions::add_counts(self, key_uid, version, encrypts, decrypts).await
    }

    async fn reserve_ivs(&self, key_uid: &str, version: u32, n: u64) -> Result<u64> {
        versions::reserve_ivs(self, key_uid, version, n).await
    }

    async fn try_lease(&self, holder: &str, now_ms: i64, ttl_ms: i64) -> Result<bool> {
        lease::try_lease(self, holder, now_ms, ttl_ms).await
    }

    async fn release_lease(&self, holder: &str) -> Result<()> {
        lease::release(self, holder).await
    }

    async fn lease_holder(&self) -> Result<Option<(String, i64)>> {
        lease::holder(self).await
    }

    async fn append_audit(&self, draft: &AuditDraft) -> Result<()> {
        let mut tx = self.begin_write().await?;
        audit::append(self, &mut tx, draft).await?;
        self.commit(tx).await
    }

    async fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        audit::entries(self).await
    }

    async fn generation(&self) -> Result<u64> {
        self.read_generation().await
    }

    async fn close(&self) {
        self.shutdown().await
    }
}

/* migrations_sqlite.c - the SQLite schema as an ordered list of steps
 * (docs/store.md, "Migrations").
 *
 * Rules: a step, once released, is never edited; a change is a new step
 * appended at the end. Each step runs in its own BEGIN IMMEDIATE
 * transaction together with the INSERT of its row in schema_version, so a
 * crash leaves the database at a whole version. Several processes may open a
 * new file at once: the version is read again under the write lock before
 * each step, so a step another process has applied meanwhile is skipped. */
#include "store_sqlite.h"

#include <time.h>

#include "ztm/str.h"

struct migration {
	int version;
	const char *name;
	const char *sql;
	/* The step rebuilds a table others reference: it runs with foreign
	 * keys off (SQLite's way to replace a table, "Making Other Kinds Of
	 * Table Schema Changes"), and every reference is checked before its
	 * commit. */
	int rebuilds;
};

static const struct migration migrations[] = {
    {1, "initial schema",
     /* Certificates: one row per serial ever handed out, from the
      * reservation on. Rows are never deleted, so a serial is never
      * reused, and the issued bytes never change. */
     "CREATE TABLE certificates ("
     " serial TEXT PRIMARY KEY NOT NULL"
     "  CHECK (length(serial) BETWEEN 2 AND 40 AND serial NOT GLOB '*[^0-9a-f]*'),"
     " ca TEXT NOT NULL,"
     " profile TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " state TEXT NOT NULL"
     "  CHECK (state IN ('reserved', 'issued', 'abandoned', 'revoked')),"
     " idem_key TEXT NOT NULL DEFAULT '',"
     " spki_sha256 TEXT NOT NULL,"
     " owner_kind TEXT NOT NULL,"
     " owner_id INTEGER NOT NULL,"
     " not_before INTEGER NOT NULL,"
     " not_after INTEGER NOT NULL,"
     " created_at INTEGER NOT NULL,"
     " issued_at INTEGER NOT NULL DEFAULT 0,"
     " der BLOB NOT NULL DEFAULT x'');"
     /* An abandoned reservation gives its idempotency key back: the client
      * that retries after a crash must be able to enroll again. */
     "CREATE UNIQUE INDEX certificates_idem ON certificates (idem_key)"
     " WHERE idem_key <> '' AND state <> 'abandoned';"
     "CREATE INDEX certificates_spki ON certificates (spki_sha256);"
     "CREATE INDEX certificates_state ON certificates (state, created_at);"
     "CREATE TRIGGER certificates_no_delete BEFORE DELETE ON certificates"
     " BEGIN SELECT RAISE(ABORT, 'certificates are never deleted'); END;"
     "CREATE TRIGGER certificates_fixed BEFORE UPDATE ON certificates"
     " WHEN NEW.serial IS NOT OLD.serial"
     "  OR (OLD.state <> 'reserved' AND NEW.der IS NOT OLD.der)"
     " BEGIN SELECT RAISE(ABORT, 'certificate serial and issued bytes are immutable');"
     " END;"

     "CREATE TABLE factories ("
     " id INTEGER PRIMARY KEY,"
     " name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 127),"
     " created_at INTEGER NOT NULL);"

     "CREATE TABLE stations ("
     " id INTEGER PRIMARY KEY,"
     " factory_id INTEGER NOT NULL REFERENCES factories (id),"
     " name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 127),"
     " state TEXT NOT NULL DEFAULT 'pending'"
     "  CHECK (state IN ('pending', 'enrolled', 'revoked')),"
     " cert_serial TEXT NOT NULL DEFAULT '',"
     " created_at INTEGER NOT NULL,"
     " revoked_at INTEGER NOT NULL DEFAULT 0,"
     " UNIQUE (factory_id, name));"
     "CREATE INDEX stations_cert ON stations (cert_serial) WHERE cert_serial <> '';"

     "CREATE TABLE operators ("
     " id INTEGER PRIMARY KEY,"
     " name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 127),"
     " role TEXT NOT NULL CHECK (role IN ('admin', 'security-officer', 'planner',"
     "  'station', 'firmware-signer', 'release-approver', 'auditor', 'device')),"
     " revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),"
     " cert_serial TEXT NOT NULL DEFAULT '',"
     " created_at INTEGER NOT NULL);"
     "CREATE INDEX operators_cert ON operators (cert_serial) WHERE cert_serial <> '';"

     /* Only the SHA-256 of a one-time code is stored, never the code. */
     "CREATE TABLE enroll_codes ("
     " hash BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),"
     " kind TEXT NOT NULL CHECK (kind IN ('station', 'operator')),"
     " subject_id INTEGER NOT NULL,"
     " created_at INTEGER NOT NULL,"
     " expires_at INTEGER NOT NULL,"
     " used_at INTEGER NOT NULL DEFAULT 0,"
     " used_spki TEXT NOT NULL DEFAULT '',"
     " cert_serial TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"

     /* Append-only: a later step chains these rows into a Merkle log, so
      * no row may ever change or go away. AUTOINCREMENT keeps ids from
      * being reused even if the last row were removed by hand. */
     "CREATE TABLE audit ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " ts INTEGER NOT NULL,"
     " actor TEXT NOT NULL,"
     " action TEXT NOT NULL,"
     " object TEXT NOT NULL,"
     " outcome TEXT NOT NULL,"
     " detail TEXT NOT NULL);"
     "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
     " BEGIN SELECT RAISE(ABORT, 'audit rows are immutable'); END;"
     "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
     " BEGIN SELECT RAISE(ABORT, 'audit rows are immutable'); END;",
     0},

    {2, "production model",
     /* What is built: a product's policy for the devices of its orders.
      * key_kinds is a bitmask, bit (1 << enum ztm_key_alg). */
     "CREATE TABLE products ("
     " id INTEGER PRIMARY KEY,"
     " name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 127),"
     " device_class TEXT NOT NULL CHECK (length(device_class) BETWEEN 1 AND 63),"
     " lifetime_days INTEGER NOT NULL CHECK (lifetime_days BETWEEN 1 AND 36500),"
     " key_kinds INTEGER NOT NULL CHECK (key_kinds BETWEEN 1 AND 15),"
     " require_fw_hash INTEGER NOT NULL CHECK (require_fw_hash IN (0, 1)),"
     " allow_injected INTEGER NOT NULL CHECK (allow_injected IN (0, 1)),"
     " hw_type_oid TEXT NOT NULL CHECK (length(hw_type_oid) BETWEEN 3 AND 63"
     "  AND hw_type_oid NOT GLOB '*[^0-9.]*'),"
     " created_at INTEGER NOT NULL);"

     /* How many of a product one factory may build, and when. The two
      * counters only ever grow, one conditional UPDATE at a time. */
     "CREATE TABLE work_orders ("
     " id INTEGER PRIMARY KEY,"
     " name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 127),"
     " product_id INTEGER NOT NULL REFERENCES products (id),"
     " factory_id INTEGER NOT NULL REFERENCES factories (id),"
     " quota INTEGER NOT NULL CHECK (quota BETWEEN 1 AND 1000000000),"
     " recorded INTEGER NOT NULL DEFAULT 0 CHECK (recorded BETWEEN 0 AND quota),"
     " registered INTEGER NOT NULL DEFAULT 0 CHECK (registered BETWEEN 0 AND quota),"
     " not_before INTEGER NOT NULL,"
     " not_after INTEGER NOT NULL CHECK (not_after > not_before),"
     " state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),"
     " closed_at INTEGER NOT NULL DEFAULT 0,"
     " created_at INTEGER NOT NULL);"
     "CREATE INDEX work_orders_factory ON work_orders (factory_id, product_id);"

     /* A signed upload of a station; its hash makes uploads idempotent. */
     "CREATE TABLE record_batches ("
     " id INTEGER PRIMARY KEY,"
     " station_id INTEGER NOT NULL REFERENCES stations (id),"
     " hash TEXT NOT NULL UNIQUE"
     "  CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'),"
     " n_records INTEGER NOT NULL CHECK (n_records >= 0),"
     " received_at INTEGER NOT NULL);"

     /* What a station saw on the line: one row per bootstrap key. */
     "CREATE TABLE records ("
     " id INTEGER PRIMARY KEY,"
     " batch_id INTEGER NOT NULL REFERENCES record_batches (id),"
     " station_id INTEGER NOT NULL REFERENCES stations (id),"
     " order_id INTEGER NOT NULL REFERENCES work_orders (id),"
     " serial TEXT NOT NULL CHECK (length(serial) BETWEEN 1 AND 64),"
     " spki_sha256 TEXT NOT NULL UNIQUE"
     "  CHECK (length(spki_sha256) = 64 AND spki_sha256 NOT GLOB '*[^0-9a-f]*'),"
     " bootstrap_der BLOB NOT NULL CHECK (length(bootstrap_der) BETWEEN 1 AND 16384),"
     " hw_rev TEXT NOT NULL,"
     " mac TEXT NOT NULL,"
     " fw_version TEXT NOT NULL,"
     " fw_sha256 TEXT NOT NULL"
     "  CHECK (fw_sha256 = '' OR (length(fw_sha256) = 64"
     "   AND fw_sha256 NOT GLOB '*[^0-9a-f]*')),"
     " test_result TEXT NOT NULL CHECK (test_result IN ('pass', 'fail')),"
     " key_origin TEXT NOT NULL CHECK (key_origin IN ('device', 'injected')),"
     " recorded_at INTEGER NOT NULL,"
     " received_at INTEGER NOT NULL);"
     "CREATE INDEX records_serial ON records (serial);"
     "CREATE TRIGGER records_no_update BEFORE UPDATE ON records"
     " BEGIN SELECT RAISE(ABORT, 'records are immutable'); END;"
     "CREATE TRIGGER records_no_delete BEFORE DELETE ON records"
     " BEGIN SELECT RAISE(ABORT, 'records are immutable'); END;"

     /* A device known to the server, from its first registration on. */
     "CREATE TABLE devices ("
     " id INTEGER PRIMARY KEY,"
     " serial TEXT NOT NULL UNIQUE CHECK (length(serial) BETWEEN 1 AND 64),"
     " product_id INTEGER NOT NULL REFERENCES products (id),"
     " record_id INTEGER NOT NULL REFERENCES records (id),"
     " state TEXT NOT NULL CHECK (state IN ('manufactured', 'provisioned', 'active',"
     "  'suspended', 'revoked', 'retired', 'quarantined')),"
     " key_spki_sha256 TEXT NOT NULL DEFAULT '',"
     " cert_serial TEXT NOT NULL DEFAULT '',"
     " created_at INTEGER NOT NULL,"
     " updated_at INTEGER NOT NULL);"

     "CREATE TABLE approved_firmware ("
     " product_id INTEGER NOT NULL REFERENCES products (id),"
     " sha256 TEXT NOT NULL"
     "  CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),"
     " added_at INTEGER NOT NULL,"
     " PRIMARY KEY (product_id, sha256)) WITHOUT ROWID;"

     /* Append-only like audit: signs of an attack, for people to act on. */
     "CREATE TABLE alerts ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " ts INTEGER NOT NULL,"
     " kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 31),"
     " serial TEXT NOT NULL,"
     " detail TEXT NOT NULL);"
     "CREATE INDEX alerts_kind ON alerts (kind);"
     "CREATE TRIGGER alerts_no_update BEFORE UPDATE ON alerts"
     " BEGIN SELECT RAISE(ABORT, 'alerts are immutable'); END;"
     "CREATE TRIGGER alerts_no_delete BEFORE DELETE ON alerts"
     " BEGIN SELECT RAISE(ABORT, 'alerts are immutable'); END;",
     0},

    {3, "revocation",
     /* The CRL partition of a certificate, fixed when it is reserved
      * (docs/revocation.md); rows from before this step are in shard 0. */
     "ALTER TABLE certificates ADD COLUMN crl_shard INTEGER NOT NULL DEFAULT 0"
     " CHECK (crl_shard >= 0);"
     /* Everything of one owner (a device's certificates, a station's). */
     "CREATE INDEX certificates_owner ON certificates (owner_kind, owner_id);"

     /* The current revocation of a certificate: what CRLs list and OCSP
      * answers. A row goes away only when a hold is lifted, and changes
      * only from a hold to a final reason; certificates.state is 'revoked'
      * exactly while a row exists. */
     "CREATE TABLE revocations ("
     " serial TEXT PRIMARY KEY NOT NULL REFERENCES certificates (serial),"
     " ca TEXT NOT NULL,"
     " crl_shard INTEGER NOT NULL CHECK (crl_shard >= 0),"
     " reason INTEGER NOT NULL CHECK (reason IN (0, 1, 2, 3, 4, 5, 6, 9, 10)),"
     " revoked_at INTEGER NOT NULL CHECK (revoked_at >= 1),"
     " seq INTEGER NOT NULL) WITHOUT ROWID;"
     "CREATE INDEX revocations_shard ON revocations (ca, crl_shard, serial);"
     "CREATE TRIGGER revocations_final BEFORE UPDATE ON revocations"
     " WHEN OLD.reason <> 6 OR NEW.serial IS NOT OLD.serial OR NEW.ca IS NOT OLD.ca"
     "  OR NEW.crl_shard IS NOT OLD.crl_shard"
     " BEGIN SELECT RAISE(ABORT, 'a final revocation never changes'); END;"
     "CREATE TRIGGER revocations_no_unrevoke BEFORE DELETE ON revocations"
     " WHEN OLD.reason <> 6"
     " BEGIN SELECT RAISE(ABORT, 'only a hold can be lifted'); END;"

     /* Every change, in order: who, what, when. seq is the change feed
      * CRL and OCSP caches follow; AUTOINCREMENT never reuses a number. */
     "CREATE TABLE revocation_log ("
     " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
     " ts INTEGER NOT NULL,"
     " serial TEXT NOT NULL,"
     " ca TEXT NOT NULL,"
     " crl_shard INTEGER NOT NULL,"
     " action TEXT NOT NULL CHECK (action IN ('revoke', 'hold', 'resume')),"
     " reason INTEGER NOT NULL,"
     " actor TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 127));"
     "CREATE TRIGGER revocation_log_no_update BEFORE UPDATE ON revocation_log"
     " BEGIN SELECT RAISE(ABORT, 'revocation log rows are immutable'); END;"
     "CREATE TRIGGER revocation_log_no_delete BEFORE DELETE ON revocation_log"
     " BEGIN SELECT RAISE(ABORT, 'revocation log rows are immutable'); END;"

     /* Certificates revoked before this step (stations) get their row. */
     "INSERT INTO revocation_log (ts, serial, ca, crl_shard, action, reason, actor)"
     " SELECT issued_at, serial, ca, 0, 'revoke', 9, 'system:migration'"
     " FROM certificates WHERE state = 'revoked' ORDER BY serial;"
     "INSERT INTO revocations (serial, ca, crl_shard, reason, revoked_at, seq)"
     " SELECT l.serial, l.ca, 0, 9, max(l.ts, 1), l.seq FROM revocation_log l;",
     0},

    {4, "owners and vouchers",
     /* The customers devices are handed to. anchor_der is the certificate
      * the owner's devices trust from the transfer on (the voucher's
      * pinned-domain-cert). */
     "CREATE TABLE owners ("
     " id INTEGER PRIMARY KEY,"
     " name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 127),"
     " anchor_der BLOB NOT NULL CHECK (length(anchor_der) BETWEEN 1 AND 8192),"
     " anchor_sha256 TEXT NOT NULL"
     "  CHECK (length(anchor_sha256) = 64 AND anchor_sha256 NOT GLOB '*[^0-9a-f]*'),"
     " created_at INTEGER NOT NULL);"

     /* Operators gain the role 'owner', bound to one owner. SQLite cannot
      * alter a CHECK constraint, so the table is rebuilt with the same ids
      * (nothing references operators by a foreign key). */
     "CREATE TABLE operators_v3 ("
     " id INTEGER PRIMARY KEY,"
     " name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 127),"
     " role TEXT NOT NULL CHECK (role IN ('admin', 'security-officer', 'planner',"
     "  'station', 'firmware-signer', 'release-approver', 'auditor', 'device', 'owner')),"
     " revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),"
     " cert_serial TEXT NOT NULL DEFAULT '',"
     " created_at INTEGER NOT NULL,"
     " owner_id INTEGER REFERENCES owners (id),"
     " CHECK ((role = 'owner') = (owner_id IS NOT NULL)));"
     "INSERT INTO operators_v3 (id, name, role, revoked, cert_serial, created_at)"
     " SELECT id, name, role, revoked, cert_serial, created_at FROM operators;"
     "DROP TABLE operators;"
     "ALTER TABLE operators_v3 RENAME TO operators;"
     "CREATE INDEX operators_cert ON operators (cert_serial) WHERE cert_serial <> '';"

     /* Who a device belongs to; NULL while the OEM holds it. */
     "ALTER TABLE devices ADD COLUMN owner_id INTEGER REFERENCES owners (id);"
     "CREATE INDEX devices_owner ON devices (owner_id, id) WHERE owner_id IS NOT NULL;"

     /* Every ownership voucher signed, append-only like audit. */
     "CREATE TABLE vouchers ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " device_id INTEGER NOT NULL REFERENCES devices (id),"
     " owner_id INTEGER NOT NULL REFERENCES owners (id),"
     " created_on INTEGER NOT NULL,"
     " expires_on INTEGER NOT NULL CHECK (expires_on > created_on),"
     " sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),"
     " actor TEXT NOT NULL);"
     "CREATE INDEX vouchers_device ON vouchers (device_id);"
     "CREATE TRIGGER vouchers_no_update BEFORE UPDATE ON vouchers"
     " BEGIN SELECT RAISE(ABORT, 'vouchers are immutable'); END;"
     "CREATE TRIGGER vouchers_no_delete BEFORE DELETE ON vouchers"
     " BEGIN SELECT RAISE(ABORT, 'vouchers are immutable'); END;",
     0},

    {5, "device lifecycle",
     /* Re-enrollment policy (docs/lifecycle.md): the last N days of a
      * certificate in which renewal is allowed, and how long after expiry
      * an offline device may still renew (0 = not at all). */
     "ALTER TABLE products ADD COLUMN renew_window_days INTEGER NOT NULL DEFAULT 30"
     " CHECK (renew_window_days BETWEEN 0 AND 36500);"
     "ALTER TABLE products ADD COLUMN renew_grace_days INTEGER NOT NULL DEFAULT 0"
     " CHECK (renew_grace_days BETWEEN 0 AND 3650);"
     /* A replacement record: a registered device recorded again with a new
      * key after repair; it takes no quota. */
     "ALTER TABLE records ADD COLUMN kind TEXT NOT NULL DEFAULT 'new'"
     " CHECK (kind IN ('new', 'replacement'));"
     /* When the device's current key was registered: a replacement record
      * counts only if received after it. */
     "ALTER TABLE devices ADD COLUMN registered_at INTEGER NOT NULL DEFAULT 0;"
     "UPDATE devices SET registered_at = created_at;",
     0},

    {6, "revocation operations and CRLs",
     /* The shards of a CA, found by index seeks (store_sqlite_crl.c). */
     "CREATE INDEX certificates_ca_shard ON certificates (ca, crl_shard);"
     /* One CRL shard is one range of a covering index: building it reads
      * no table row (a lookup per entry cost 5 us, most of the build). */
     "DROP INDEX revocations_shard;"
     "CREATE INDEX revocations_crl ON revocations (ca, crl_shard, serial, revoked_at, reason, seq);"
     /* A mass revocation selects records by station or order and time. */
     "CREATE INDEX records_station_time ON records (station_id, recorded_at);"
     "CREATE INDEX records_order_time ON records (order_id, recorded_at);"

     /* Mass revocation requests (two-person rule, DESIGN 4): made by one
      * operator, decided by another; a decided request never changes. */
     "CREATE TABLE mass_revocations ("
     " id INTEGER PRIMARY KEY,"
     " selector TEXT NOT NULL CHECK (selector IN ('station', 'order')),"
     " target_id INTEGER NOT NULL,"
     " target TEXT NOT NULL CHECK (length(target) BETWEEN 1 AND 259),"
     " from_ts INTEGER NOT NULL,"
     " to_ts INTEGER NOT NULL CHECK (to_ts >= from_ts),"
     " reason INTEGER NOT NULL CHECK (reason IN (0, 1, 2, 3, 4, 5, 9, 10)),"
     " requested_by TEXT NOT NULL CHECK (length(requested_by) BETWEEN 1 AND 127),"
     " requested_at INTEGER NOT NULL,"
     " preview INTEGER NOT NULL CHECK (preview >= 0),"
     " state TEXT NOT NULL DEFAULT 'pending'"
     "  CHECK (state IN ('pending', 'executed', 'rejected')),"
     " decided_by TEXT NOT NULL DEFAULT '',"
     " decided_at INTEGER NOT NULL DEFAULT 0,"
     " devices INTEGER NOT NULL DEFAULT 0,"
     " certificates INTEGER NOT NULL DEFAULT 0,"
     " CHECK (state = 'pending' OR decided_by <> ''),"
     " CHECK (state <> 'executed' OR decided_by <> requested_by));"
     "CREATE TRIGGER mass_revocations_decided BEFORE UPDATE ON mass_revocations"
     " WHEN OLD.state <> 'pending'"
     " BEGIN SELECT RAISE(ABORT, 'a decided mass revocation never changes'); END;"
     "CREATE TRIGGER mass_revocations_no_delete BEFORE DELETE ON mass_revocations"
     " BEGIN SELECT RAISE(ABORT, 'mass revocation requests are kept'); END;"

     /* The current CRL of each (CA, shard) and who is rebuilding it. The
      * number only grows (DESIGN I5): a new CRL is stored with number + 1
      * in the transaction that stores its bytes. */
     "CREATE TABLE crls ("
     " ca TEXT NOT NULL,"
     " shard INTEGER NOT NULL CHECK (shard >= 0),"
     " number INTEGER NOT NULL DEFAULT 0 CHECK (number >= 0),"
     " built_seq INTEGER NOT NULL DEFAULT 0,"
     " this_update INTEGER NOT NULL DEFAULT 0,"
     " next_update INTEGER NOT NULL DEFAULT 0,"
     " der BLOB NOT NULL DEFAULT x'',"
     " claimed_by TEXT NOT NULL DEFAULT '',"
     " claimed_until INTEGER NOT NULL DEFAULT 0,"
     " PRIMARY KEY (ca, shard)) WITHOUT ROWID;"
     "CREATE TRIGGER crls_number_grows BEFORE UPDATE ON crls"
     " WHEN NEW.number < OLD.number"
     "  OR (NEW.number = OLD.number AND NEW.this_update IS NOT OLD.this_update)"
     " BEGIN SELECT RAISE(ABORT, 'CRL numbers only grow'); END;"
     "CREATE TRIGGER crls_no_delete BEFORE DELETE ON crls"
     " BEGIN SELECT RAISE(ABORT, 'CRL rows are kept'); END;",
     0},

    {7, "firmware signers and releases",
     /* Firmware signers (docs/firmware.md): one key and certificate per
      * product line and channel, issued by ztmd from the codesign CA. At
      * most one active signer per (product, channel); a retired signer
      * stays for the audit trail and never comes back. */
     "CREATE TABLE fw_signers ("
     " id INTEGER PRIMARY KEY,"
     " product_id INTEGER NOT NULL REFERENCES products (id),"
     " channel TEXT NOT NULL CHECK (channel IN ('production', 'test')),"
     " key_uri TEXT NOT NULL CHECK (length(key_uri) BETWEEN 1 AND 1023),"
     " cert_serial TEXT NOT NULL UNIQUE REFERENCES certificates (serial),"
     " cert_der BLOB NOT NULL CHECK (length(cert_der) BETWEEN 1 AND 8192),"
     " created_by TEXT NOT NULL CHECK (length(created_by) BETWEEN 1 AND 127),"
     " created_at INTEGER NOT NULL,"
     " retired_at INTEGER NOT NULL DEFAULT 0 CHECK (retired_at >= 0));"
     "CREATE UNIQUE INDEX fw_signers_active ON fw_signers (product_id, channel)"
     " WHERE retired_at = 0;"
     "CREATE TRIGGER fw_signers_fixed BEFORE UPDATE ON fw_signers"
     " WHEN OLD.retired_at <> 0 OR NEW.id IS NOT OLD.id OR NEW.product_id IS NOT OLD.product_id"
     "  OR NEW.channel IS NOT OLD.channel OR NEW.key_uri IS NOT OLD.key_uri"
     "  OR NEW.cert_der IS NOT OLD.cert_der OR NEW.cert_serial IS NOT OLD.cert_serial"
     " BEGIN SELECT RAISE(ABORT, 'a firmware signer only ever retires'); END;"
     "CREATE TRIGGER fw_signers_no_delete BEFORE DELETE ON fw_signers"
     " BEGIN SELECT RAISE(ABORT, 'firmware signers are kept'); END;"

     /* Firmware releases: submitted by a firmware signer, signed at once
      * (test) or after a release approver who is not the submitter
      * approves (production: DESIGN 4, the two-person rule, held here by
      * CHECK like mass_revocations). 'imported' rows are the hashes of the
      * old approved_firmware table (before issue 5): approved, never
      * signed by ztmd. signed_at > 0 once signed, also after revocation. */
     "CREATE TABLE fw_releases ("
     " id INTEGER PRIMARY KEY,"
     " product_id INTEGER NOT NULL REFERENCES products (id),"
     " version TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 64"
     "  AND version NOT GLOB '*[^A-Za-z0-9._+~-]*'),"
     " security_version INTEGER NOT NULL CHECK (security_version BETWEEN 0 AND 4294967295),"
     " size INTEGER NOT NULL CHECK (size BETWEEN 0 AND 1099511627776),"
     " sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),"
     " channel TEXT NOT NULL CHECK (channel IN ('production', 'test')),"
     " origin TEXT NOT NULL DEFAULT 'signed' CHECK (origin IN ('signed', 'imported')),"
     " signer_id INTEGER REFERENCES fw_signers (id),"
     " submitted_by TEXT NOT NULL CHECK (length(submitted_by) BETWEEN 1 AND 127),"
     " submitted_at INTEGER NOT NULL,"
     " approved_by TEXT NOT NULL DEFAULT '' CHECK (length(approved_by) <= 127),"
     " approved_at INTEGER NOT NULL DEFAULT 0,"
     " signed_at INTEGER NOT NULL DEFAULT 0 CHECK (signed_at >= 0),"
     " state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'signed', 'revoked')),"
     " revoked_by TEXT NOT NULL DEFAULT '',"
     " revoked_at INTEGER NOT NULL DEFAULT 0,"
     " revoke_reason TEXT NOT NULL DEFAULT '' CHECK (length(revoke_reason) <= 255),"
     " cms BLOB NOT NULL DEFAULT x'',"
     " manifest BLOB NOT NULL DEFAULT x'',"
     " UNIQUE (product_id, version),"
     " CHECK (origin = 'imported' OR size >= 1),"
     /* The two-person rule: the approver is never the submitter, and a
      * signed production release always has an approver. */
     " CHECK (approved_by = '' OR approved_by <> submitted_by),"
     " CHECK (origin = 'imported' OR channel = 'test' OR signed_at = 0 OR approved_by <> ''),"
     " CHECK (state <> 'signed' OR signed_at > 0),"
     " CHECK (state <> 'revoked' OR (revoke_reason <> '' AND revoked_by <> '')),"
     " CHECK (origin = 'imported' OR signed_at = 0"
     "  OR (signer_id IS NOT NULL AND length(cms) > 0 AND length(manifest) > 0)));"
     "CREATE INDEX fw_releases_hash ON fw_releases (product_id, sha256, state);"
     /* Test keys never sign production (THREATS: PKfail): the signer of a
      * release is of its product and its channel, and active. */
     "CREATE TRIGGER fw_releases_signer BEFORE UPDATE OF signer_id ON fw_releases"
     " WHEN NEW.signer_id IS NOT OLD.signer_id AND NOT EXISTS (SELECT 1 FROM fw_signers s"
     "  WHERE s.id = NEW.signer_id AND s.product_id = NEW.product_id"
     "  AND s.channel = NEW.channel AND s.retired_at = 0)"
     " BEGIN SELECT RAISE(ABORT, 'firmware signer is not of this release''s product and"
     " channel'); END;"
     /* Anti-rollback: no release below the highest production release
      * ever signed for the product (revoked ones count: devices may have
      * raised their counter to it). */
     "CREATE TRIGGER fw_releases_svn_insert BEFORE INSERT ON fw_releases"
     " WHEN NEW.origin = 'signed' AND NEW.security_version < (SELECT"
     "  coalesce(max(security_version), 0) FROM fw_releases WHERE product_id = NEW.product_id"
     "  AND channel = 'production' AND signed_at > 0 AND origin = 'signed')"
     " BEGIN SELECT RAISE(ABORT, 'security_version below the product''s highest signed"
     " production release'); END;"
     "CREATE TRIGGER fw_releases_svn_sign BEFORE UPDATE OF signed_at ON fw_releases"
     " WHEN OLD.signed_at = 0 AND NEW.signed_at > 0 AND NEW.security_version < (SELECT"
     "  coalesce(max(security_version), 0) FROM fw_releases WHERE product_id = NEW.product_id"
     "  AND channel = 'production' AND signed_at > 0 AND origin = 'signed')"
     " BEGIN SELECT RAISE(ABORT, 'security_version below the product''s highest signed"
     " production release'); END;"
     /* What was signed never changes; a revoked release never comes back. */
     "CREATE TRIGGER fw_releases_fixed BEFORE UPDATE ON fw_releases"
     " WHEN OLD.state = 'revoked' OR NEW.product_id IS NOT OLD.product_id"
     "  OR NEW.version IS NOT OLD.version OR NEW.sha256 IS NOT OLD.sha256"
     "  OR NEW.size IS NOT OLD.size OR NEW.security_version IS NOT OLD.security_version"
     "  OR NEW.channel IS NOT OLD.channel OR NEW.submitted_by IS NOT OLD.submitted_by"
     "  OR (OLD.signed_at > 0 AND (NEW.cms IS NOT OLD.cms OR NEW.manifest IS NOT OLD.manifest"
     "   OR NEW.signer_id IS NOT OLD.signer_id OR NEW.approved_by IS NOT OLD.approved_by"
     "   OR NEW.signed_at IS NOT OLD.signed_at OR NEW.state = 'pending'))"
     " BEGIN SELECT RAISE(ABORT, 'a signed or revoked firmware release is immutable'); END;"
     "CREATE TRIGGER fw_releases_no_delete BEFORE DELETE ON fw_releases"
     " BEGIN SELECT RAISE(ABORT, 'firmware releases are kept'); END;"
     /* Vetting now asks fw_releases (a signed, unrevoked release); the old
      * allow-list moves in as imported releases, still revocable. */
     "INSERT INTO fw_releases (product_id, version, security_version, size, sha256, channel,"
     " origin, submitted_by, submitted_at, signed_at, state)"
     " SELECT product_id, 'imported-' || substr(sha256, 1, 16), 0, 0, sha256, 'production',"
     " 'imported', 'system:migration', added_at, max(added_at, 1), 'signed'"
     " FROM approved_firmware;"
     "DROP TABLE approved_firmware;",
     0},

    {8, "TPM key attestation",
     /* Where a product's device keys must live (docs/attestation.md):
      * 'tpm' registers only keys a TPM attests. */
     "ALTER TABLE products ADD COLUMN key_storage TEXT NOT NULL DEFAULT 'any'"
     " CHECK (key_storage IN ('any', 'tpm'));"
     /* The challenges of credential activation: hashes and the AK's
      * public name only (nothing here answers a challenge). A row is used
      * once; until then only used_at may change, after never. Expired
      * rows go when a new challenge is added. */
     "CREATE TABLE attest_challenges ("
     " cred_hash BLOB PRIMARY KEY NOT NULL CHECK (length(cred_hash) = 32),"
     " key_spki TEXT NOT NULL CHECK (length(key_spki) = 64 AND key_spki NOT GLOB '*[^0-9a-f]*'),"
     " ak_name BLOB NOT NULL CHECK (length(ak_name) BETWEEN 34 AND 66),"
     " ek_cert_sha256 TEXT NOT NULL CHECK (length(ek_cert_sha256) = 64"
     "  AND ek_cert_sha256 NOT GLOB '*[^0-9a-f]*'),"
     " created_at INTEGER NOT NULL CHECK (created_at > 0),"
     " expires_at INTEGER NOT NULL CHECK (expires_at > created_at),"
     " used_at INTEGER NOT NULL DEFAULT 0 CHECK (used_at >= 0)) WITHOUT ROWID;"
     "CREATE INDEX attest_challenges_expiry ON attest_challenges (expires_at);"
     "CREATE TRIGGER attest_challenges_once BEFORE UPDATE ON attest_challenges"
     " WHEN OLD.used_at <> 0 OR NEW.used_at = 0 OR NEW.cred_hash IS NOT OLD.cred_hash"
     "  OR NEW.key_spki IS NOT OLD.key_spki OR NEW.ak_name IS NOT OLD.ak_name"
     "  OR NEW.ek_cert_sha256 IS NOT OLD.ek_cert_sha256 OR NEW.created_at IS NOT OLD.created_at"
     "  OR NEW.expires_at IS NOT OLD.expires_at"
     " BEGIN SELECT RAISE(ABORT, 'an attestation challenge is used once'); END;",
     0},

    {9, "attested EK of a device",
     /* The EK certificate (its hash) whose TPM attested the device's key
      * at registration: a re-key of a key_storage = tpm product must be
      * attested by the same TPM (docs/attestation.md, "Re-key"). '' = none
      * recorded (a device registered without attestation, or before this
      * step). */
     "ALTER TABLE devices ADD COLUMN ek_cert_sha256 TEXT NOT NULL DEFAULT ''"
     " CHECK (ek_cert_sha256 = '' OR (length(ek_cert_sha256) = 64"
     "  AND ek_cert_sha256 NOT GLOB '*[^0-9a-f]*'));",
     0},

    {10, "record hashes as bytes",
     /* records holds its two hashes as the 32 bytes, not as 64 hex
      * characters: a GLOB over each hex text was about a third of the cost
      * of an insert, and the unique index on the key hash is half the size
      * (docs/store.md, "Record hashes as bytes"). The rows keep their ids. */
     "CREATE TABLE records_v10 ("
     " id INTEGER PRIMARY KEY,"
     " batch_id INTEGER NOT NULL REFERENCES record_batches (id),"
     " station_id INTEGER NOT NULL REFERENCES stations (id),"
     " order_id INTEGER NOT NULL REFERENCES work_orders (id),"
     " serial TEXT NOT NULL CHECK (length(serial) BETWEEN 1 AND 64),"
     " spki_sha256 BLOB NOT NULL"
     "  CHECK (typeof(spki_sha256) = 'blob' AND length(spki_sha256) = 32),"
     " bootstrap_der BLOB NOT NULL CHECK (length(bootstrap_der) BETWEEN 1 AND 16384),"
     " hw_rev TEXT NOT NULL,"
     " mac TEXT NOT NULL,"
     " fw_version TEXT NOT NULL,"
     " fw_sha256 BLOB NOT NULL"
     "  CHECK (typeof(fw_sha256) = 'blob' AND length(fw_sha256) IN (0, 32)),"
     " test_result TEXT NOT NULL CHECK (test_result IN ('pass', 'fail')),"
     " key_origin TEXT NOT NULL CHECK (key_origin IN ('device', 'injected')),"
     " recorded_at INTEGER NOT NULL,"
     " received_at INTEGER NOT NULL,"
     " kind TEXT NOT NULL DEFAULT 'new' CHECK (kind IN ('new', 'replacement')));"
     "INSERT INTO records_v10 (id, batch_id, station_id, order_id, serial, spki_sha256,"
     " bootstrap_der, hw_rev, mac, fw_version, fw_sha256, test_result, key_origin,"
     " recorded_at, received_at, kind)"
     " SELECT id, batch_id, station_id, order_id, serial, ztm_unhex(spki_sha256),"
     "  bootstrap_der, hw_rev, mac, fw_version, ztm_unhex(fw_sha256), test_result,"
     "  key_origin, recorded_at, received_at, kind FROM records ORDER BY id;"
     "DROP TABLE records;"
     "ALTER TABLE records_v10 RENAME TO records;"
     /* Built after the copy, in one sort, rather than kept up row by row
      * in random key order through it. */
     "CREATE UNIQUE INDEX records_spki ON records (spki_sha256);"
     "CREATE INDEX records_serial ON records (serial);"
     "CREATE INDEX records_station_time ON records (station_id, recorded_at);"
     "CREATE INDEX records_order_time ON records (order_id, recorded_at);"
     "CREATE TRIGGER records_no_update BEFORE UPDATE ON records"
     " BEGIN SELECT RAISE(ABORT, 'records are immutable'); END;"
     "CREATE TRIGGER records_no_delete BEFORE DELETE ON records"
     " BEGIN SELECT RAISE(ABORT, 'records are immutable'); END;",
     1},
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

int sq_schema_latest(void)
{
	return migrations[N_MIGRATIONS - 1].version;
}

static const struct sq_query q_version = {SQ_SCHEMA_VERSION,
                                          "SELECT coalesce(max(version), 0) FROM schema_version"};

int sq_schema_version(struct sq_store *s, int *out, struct ztm_error *err)
{
	sqlite3_stmt *st = sq_stmt(s, &q_version, err);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sq_fail(s, err, rc, "reading store schema version");
		sq_reset(st);
		return -1;
	}
	*out = sqlite3_column_int(st, 0);
	sq_reset(st);
	return 0;
}

static int exec(struct sq_store *s, const char *sql, struct ztm_error *err, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sq_fail(s, err, rc, "%s", what);
	return 0;
}

/* Applies step m unless the database already has it; runs inside the write
 * lock, so the check and the step cannot race another process. */
static int apply(struct sq_store *s, const struct migration *m, struct ztm_error *err)
{
	sqlite3_stmt *st = NULL;
	int cur, rc, ret = -1;

	if (sq_schema_version(s, &cur, err) != 0)
		return -1;
	if (cur >= m->version)
		return 0;
	if (cur != m->version - 1)
		return ztm_error_set(err, ZTM_E_STORE,
		                     "store schema version %d cannot be migrated to %d", cur,
		                     m->version);
	rc = sqlite3_exec(s->db, m->sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(s, err, rc, "store migration %d (%s)", m->version, m->name);
	rc = sqlite3_prepare_v2(s->db,
	                        "INSERT INTO schema_version (version, name, applied_at)"
	                        " VALUES (?1, ?2, ?3)",
	                        -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sq_bind(st, "iti", (int64_t)m->version, m->name, (int64_t)time(NULL));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		sq_fail(s, err, rc, "recording store migration %d", m->version);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

/* ztm_unhex(text): the bytes a lower-case hex text spells ('' gives an
 * empty blob); NULL for anything else, which a NOT NULL column refuses.
 * For steps that turn hex columns into bytes (SQLite 3.40 has no unhex). */
static void sql_unhex(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *t = (const char *)sqlite3_value_text(argv[0]);
	int n = sqlite3_value_bytes(argv[0]);
	uint8_t *b;

	(void)argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_TEXT || t == NULL || n % 2 != 0) {
		sqlite3_result_null(ctx);
		return;
	}
	b = sqlite3_malloc(n / 2 + 1);
	if (b == NULL) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (ztm_unhex(t, (size_t)n / 2, b) != 0) {
		sqlite3_free(b);
		sqlite3_result_null(ctx);
		return;
	}
	sqlite3_result_blob(ctx, b, n / 2, sqlite3_free);
}

/* After a rebuild: every foreign key still finds its row. */
static int references_hold(struct sq_store *s, const struct migration *m, struct ztm_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		ztm_error_set(err, ZTM_E_STORE,
		              "store migration %d (%s): a row of %s lost the row it references",
		              m->version, m->name, (const char *)sqlite3_column_text(st, 0));
	else if (rc != SQLITE_DONE)
		sq_fail(s, err, rc, "checking references after store migration %d", m->version);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int sq_migrate(struct sq_store *s, struct ztm_error *err)
{
	size_t i;
	int cur;

	/* The version table itself comes first, outside the numbered steps:
	 * it is how we know which steps have run. */
	if (exec(s,
	         "BEGIN IMMEDIATE;"
	         "CREATE TABLE IF NOT EXISTS schema_version ("
	         " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
	         " applied_at INTEGER NOT NULL);"
	         "COMMIT;",
	         err, "creating store schema_version table") != 0)
		goto fail;
	if (sq_schema_version(s, &cur, err) != 0)
		goto fail;
	/* Code older than the database must not write rows it does not
	 * understand (or miss constraints a newer step added). */
	if (cur > sq_schema_latest())
		return ztm_error_set(err, ZTM_E_STORE,
		                     "store schema version %d is newer than this program supports "
		                     "(%d): upgrade ztm",
		                     cur, sq_schema_latest());
	if (sqlite3_create_function_v2(s->db, "ztm_unhex", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
	                               NULL, sql_unhex, NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(s, err, sqlite3_errcode(s->db), "registering ztm_unhex");
	for (i = 0; i < N_MIGRATIONS; i++) {
		const struct migration *m = &migrations[i];

		if (m->version <= cur)
			continue;
		/* A no-op inside a transaction: before BEGIN, undone below. */
		if (m->rebuilds && exec(s, "PRAGMA foreign_keys=OFF", err, "store migration") != 0)
			goto fail;
		if (exec(s, "BEGIN IMMEDIATE", err, "beginning store migration") != 0)
			goto fail;
		if (apply(s, m, err) != 0 || (m->rebuilds && references_hold(s, m, err) != 0) ||
		    exec(s, "COMMIT", err, "committing store migration") != 0)
			goto fail;
		if (m->rebuilds && exec(s, "PRAGMA foreign_keys=ON", err, "store migration") != 0)
			goto fail;
	}
	return 0;
fail:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_exec(s->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
	return -1;
}

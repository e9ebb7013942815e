import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../../shared/src/errors.js';
import type { Identity } from '../../../shared/src/jws/index.js';
import { loadOrCreateReceiptKey, RECEIPT_KEY_FILE } from '../receipt.js';
import type { SqlDb } from '../store/sql.js';

/** This collector's receipt key is not the one the fleet's database registered. */
export const ERR_FLEET_KEY_MISMATCH = 'ERR_FLEET_KEY_MISMATCH';
/** The fleet's database has a key, but this collector has no key file: it must be copied here. */
export const ERR_FLEET_KEY_MISSING = 'ERR_FLEET_KEY_MISSING';

/**
 * One fleet identity for collectors sharing a database. The signing key (receipts; later
 * attestation results and checkpoints) is a private JWK in a file, `receipt-key.jwk` in the
 * trust state folder, the same file on every collector of the fleet; the database holds only
 * its public half (`fleet_keys`), registered by the first collector to start.
 *
 * Why a shared file, not the key in the database: a database dump, backup or replica must not
 * carry the fleet's signing key (what it signs is meant to be checked by people who do not trust
 * whoever can read the database), and a key-encryption key would still be a file to copy. So a
 * collector whose file is missing (when the fleet already has a key) or holds another key
 * refuses to start, with the step to take, instead of signing with a key of its own.
 */
export async function joinFleetKey(db: SqlDb, stateDir: string, collectorId: string, now = new Date()): Promise<Identity> {
  const file = join(stateDir, RECEIPT_KEY_FILE);
  const registered = await registeredKey(db);
  const exists = await access(file).then(
    () => true,
    () => false,
  );
  if (!exists && registered) {
    throw new UserError(
      ERR_FLEET_KEY_MISSING,
      `this fleet signs with key ${registered.kid} (registered by collector ${registered.registered_by}), and ${file} does not exist: copy receipt-key.jwk from a collector of this fleet to ${stateDir} (mode 0600)`,
    );
  }
  const key = await loadOrCreateReceiptKey(stateDir);
  await db.run(
    'INSERT INTO fleet_keys (purpose, kid, public_jwk, registered_by, registered_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (purpose) DO NOTHING',
    ['sign', key.kid, JSON.stringify(key.publicJwk), collectorId, now.toISOString()],
  );
  const fleet = (await registeredKey(db))!;
  if (fleet.kid !== key.kid) {
    throw new UserError(
      ERR_FLEET_KEY_MISMATCH,
      `${file} holds key ${key.kid}, but this fleet signs with ${fleet.kid} (registered by collector ${fleet.registered_by} at ${fleet.registered_at}): replace ${file} with the fleet's receipt-key.jwk from another collector`,
    );
  }
  return key;
}

async function registeredKey(db: SqlDb) {
  return db.get<{ kid: string; registered_by: string; registered_at: string }>(
    "SELECT kid, registered_by, registered_at FROM fleet_keys WHERE purpose = 'sign'",
  );
}

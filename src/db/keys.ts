/** A project's API keys: made, hashed and rotated (the admin API and the project's own settings). */
import { keyPrefix, newSecret, sha256Hex } from "../domain/crypto";
import type { Env } from "../env";
import { writeProjectRow } from "./databases";

export async function newKeys() {
  const publicKey = newSecret("pk");
  const secretKey = newSecret("sk");
  return {
    publicKey,
    secretKey,
    hashes: {
      publicKeyHash: await sha256Hex(publicKey),
      secretKeyHash: await sha256Hex(secretKey),
      publicKeyPrefix: keyPrefix(publicKey),
      secretKeyPrefix: keyPrefix(secretKey),
    },
  };
}

/**
 * New public and secret keys for the project, shown once: the old ones stop working at once, and with the
 * old secret key every dashboard session made with it ends.
 */
export async function rotateKeys(
  env: Env,
  projectId: string,
): Promise<{ publicKey: string; secretKey: string }> {
  const keys = await newKeys();
  await writeProjectRow(env, projectId, (d) =>
    d
      .prepare(
        `UPDATE projects SET public_key_hash = ?2, secret_key_hash = ?3, public_key_prefix = ?4,
           secret_key_prefix = ?5, updated_at = ?6 WHERE id = ?1`,
      )
      .bind(
        projectId,
        keys.hashes.publicKeyHash,
        keys.hashes.secretKeyHash,
        keys.hashes.publicKeyPrefix,
        keys.hashes.secretKeyPrefix,
        Date.now(),
      ),
  );
  return { publicKey: keys.publicKey, secretKey: keys.secretKey };
}

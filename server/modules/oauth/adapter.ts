import { AsyncLocalStorage } from 'node:async_hooks';
import { errors } from 'oidc-provider';
import type { Db, Tx } from '../../db/index.ts';
import { batched } from '../../lib/batched.ts';

/**
 * oidc-provider's storage, in PostgreSQL (table `oauth_payloads`, owned by
 * this module). One adapter per model, made by `createAdapterFactory`:
 * - `find` honours expiry; `consume` is atomic (a second consume of the same
 *   code or refresh token fails, so two concurrent exchanges cannot both win);
 * - `revokeByGrantId` deletes every artifact of a grant in one statement;
 * - the `Client` model is not stored here: it reads the app registry;
 * - refresh tokens remember the token they were rotated into, which is what
 *   the grace window needs (see `find`).
 *
 * A refresh at the token endpoint costs two statements here, or one: the
 * presented token is read with its grant (the provider's `Grant.find` then
 * reads the request's copy), unless this process issued it (`issued`); its
 * consumption and the saving of its replacement are held back and written
 * together with the access token's link, in one statement that only succeeds
 * while the presented token is still there, unused, and its grant too
 * (`flushRotation`); so two concurrent refreshes of one token still cannot
 * both win, and nothing of a refresh that fails half-way is written. Rotations
 * that wait while others are being written go together in one statement
 * (`rotate`).
 */

/** What the current provider request is, for the adapter (set by the mount in service.ts). */
export interface OAuthRequestState {
  endpoint: 'token' | 'revocation' | 'other';
  /** The client whose secret was verified for this request (token and revocation endpoints). */
  clientId?: string;
  /** Refresh token consumed by this request, and the one issued in its place. */
  rotatedFrom?: string;
  issuedRefreshToken?: string;
  /** For the audit entry when the provider itself revokes a grant. */
  ip?: string | null;
  requestId?: string | null;
  /** The grant read together with the presented refresh token (token endpoint). */
  grant?: { id: string; payload: Record<string, any> | undefined; json?: string };
  /** A refresh token's consumption held back until its replacement is written with it. */
  consumePending?: boolean;
  /** The presented refresh token was one this process issued, read from its memory (see `issued`). */
  fromMemory?: string;
  /** The replacement, held back with the consumption (see `flushRotation`). */
  pendingRefresh?: {
    id: string;
    payload: Record<string, any>;
    grantId: string | null;
    expiresIn: number | null;
  };
}

export const oauthRequest = new AsyncLocalStorage<OAuthRequestState>();

export interface AdapterDeps {
  db: Db;
  /** Seconds after a refresh token was used during which it may be presented once more (a lost response). */
  refreshGraceSeconds: () => number;
  /** Client metadata for a client id, from the app registry; undefined when no such app may act. */
  findClient(clientId: string): Promise<Record<string, unknown> | undefined>;
  /** The provider revoked a grant (a reused code or refresh token, the revocation endpoint). */
  onGrantRevoked(grantId: string, reason: 'token_reuse' | 'revoked_by_app' | 'revoked'): Promise<void>;
  /** A retry within the grace window replaced a token pair: its access token must be refused. */
  onPairReplaced(tx: Tx, accessJti: string, accessExpiresAt: Date): Promise<void>;
}

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

const epoch = (d: Date) => Math.floor(d.getTime() / 1000);
// Client metadata read for a request whose client secret was just verified (so
// the app is active now) is reused this long by that client's next requests.
const VERIFIED_CLIENT_CACHE_MS = 5_000;
const VERIFIED_CLIENT_CACHE_MAX = 10_000;
// How long (x 20 ms) a retry waits for a concurrent rotation of the same token to finish.
const ROTATION_WAIT_ATTEMPTS = 100;
// `replaced_by` of a refresh token that a retry within the grace window made worthless.
const INVALIDATED = '-';

// Rotation statements out at once per process, and rotations one of them carries at most (see `rotate`).
const ROTATION_WRITERS = 1;
const ROTATION_BATCH_MAX = 64;

// Refresh tokens this process issued and has not seen presented yet (see `issued`).
const ISSUED_MAX = 10_000;

export function createAdapterFactory(deps: AdapterDeps) {
  const { db } = deps;

  /**
   * The refresh tokens this process issued at the token endpoint, with their
   * grant as read for that refresh, until one is presented here (then it is
   * forgotten) or ISSUED_MAX newer ones push it out. A refresh presenting one
   * reads nothing: what is known of the token cannot have changed, except
   * what the rotation statement checks when it writes, atomically (the token
   * still there, unused and unexpired, its grant still there; see
   * `flushRotation`). When that check fails, the token is read again and
   * handled as a fresh read would have been (`settleFromMemory`): refused
   * when gone, the grace window when just used, reuse (the grant revoked)
   * otherwise. The grant's payload may be older than the row: Plaza only ever
   * widens a grant (consent adds scopes to the installation's), and a refresh
   * carries the refresh token's own scopes, which the grant held already.
   */
  // The token's payload is the object the provider saved (it is handed back once, when presented).
  const issued = new Map<
    string,
    { payload: Record<string, any>; grantId: string; grant: string; until: number }
  >();
  function remember(id: string, payload: Record<string, any>, exp: unknown, grantId: string, grant: string) {
    if (issued.size >= ISSUED_MAX) issued.delete(issued.keys().next().value as string);
    const until = typeof exp === 'number' ? exp * 1000 : Date.now() + 3600_000;
    issued.set(id, { payload, grantId, grant, until });
  }
  function recall(id: string, state: OAuthRequestState): Record<string, any> | undefined {
    const hit = issued.get(id);
    if (!hit) return undefined;
    issued.delete(id);
    if (hit.until <= Date.now()) return undefined;
    state.grant = { id: hit.grantId, payload: JSON.parse(hit.grant), json: hit.grant };
    state.fromMemory = id;
    return hit.payload;
  }

  const verifiedClients = new Map<string, { metadata: Record<string, unknown>; until: number }>();

  /**
   * The metadata object ClientAdapter.find would hand back from its copy of
   * a verified client right now (token and revocation endpoints), else
   * undefined: the same object for as long as the copy is kept.
   */
  function verifiedClientMetadata(id: string): Record<string, unknown> | undefined {
    const state = oauthRequest.getStore();
    if (state?.endpoint === 'other' || state?.clientId !== id) return undefined;
    const hit = verifiedClients.get(id);
    return hit && hit.until > Date.now() ? hit.metadata : undefined;
  }

  class ClientAdapter {
    /**
     * At the token and revocation endpoints, the client-secret check has just
     * read the app and found it active: its metadata (redirect URIs, name)
     * may then come from a copy a few seconds old. Anywhere else, fresh.
     */
    async find(id: string) {
      const state = oauthRequest.getStore();
      if (state?.endpoint === 'other' || state?.clientId !== id) return deps.findClient(id);
      const now = Date.now();
      const hit = verifiedClients.get(id);
      if (hit && hit.until > now) return hit.metadata;
      const metadata = await deps.findClient(id);
      if (verifiedClients.size >= VERIFIED_CLIENT_CACHE_MAX) verifiedClients.clear();
      if (metadata) verifiedClients.set(id, { metadata, until: now + VERIFIED_CLIENT_CACHE_MS });
      else verifiedClients.delete(id);
      return metadata;
    }
    async upsert(): Promise<void> {
      throw new Error('clients come from the app registry');
    }
    async destroy(): Promise<void> {
      throw new Error('clients come from the app registry');
    }
  }

  class PostgresAdapter {
    readonly model: string;
    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: Record<string, any>, expiresIn?: number): Promise<void> {
      const grantId =
        this.model === 'Grant' ? id : GRANTABLE.has(this.model) ? (payload.grantId ?? null) : null;
      const state = oauthRequest.getStore();
      if (state?.consumePending && this.model === 'RefreshToken' && !state.pendingRefresh) {
        // The replacement of a held-back consumption: written with it (flushRotation).
        state.pendingRefresh = {
          id,
          payload,
          grantId,
          expiresIn: typeof expiresIn === 'number' ? Math.ceil(expiresIn) : null,
        };
        state.issuedRefreshToken = id;
        return;
      }
      // Anything else saved meanwhile (an opaque access token) comes after the rotation.
      if (state?.pendingRefresh) await flushRotation(state, null, null);
      // Rotation: the consumed refresh token points at its replacement (same statement).
      const rotatedFrom = this.model === 'RefreshToken' ? (state?.rotatedFrom ?? null) : null;
      await db.query(
        `WITH saved AS (
           INSERT INTO oauth_payloads (model, id, payload, grant_id, uid, user_code, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6,
             CASE WHEN $7::bigint IS NULL THEN NULL ELSE now() + make_interval(secs => $7::bigint) END)
           ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
             uid = EXCLUDED.uid, user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at
           RETURNING id)
         UPDATE oauth_payloads SET replaced_by = $2
         WHERE $8::text IS NOT NULL AND model = 'RefreshToken' AND id = $8 AND EXISTS (SELECT 1 FROM saved)`,
        [
          this.model,
          id,
          JSON.stringify(payload),
          grantId,
          payload.uid ?? null,
          payload.userCode ?? null,
          typeof expiresIn === 'number' ? Math.ceil(expiresIn) : null,
          rotatedFrom,
        ],
      );
      if (this.model === 'RefreshToken' && state) state.issuedRefreshToken = id;
    }

    async find(id: string): Promise<Record<string, any> | undefined> {
      const state = oauthRequest.getStore();
      // The grant of the refresh token this request presented, read with it.
      if (this.model === 'Grant' && state?.grant?.id === id) return state.grant.payload;
      if (this.model === 'RefreshToken' && state?.endpoint === 'token') {
        const known = recall(id, state);
        if (known) return known;
      }
      let row =
        this.model === 'RefreshToken' && state?.endpoint === 'token'
          ? await this.selectWithGrant(id, state)
          : await this.select(id);
      if (row?.consumed_at && this.model === 'RefreshToken' && (await reopenWithinGrace(id)))
        row = await this.select(id);
      if (!row) return undefined;
      return row.consumed_at ? { ...row.payload, consumed: epoch(row.consumed_at) } : row.payload;
    }

    /** The refresh token and, into the request state, its grant: one round trip. */
    private async selectWithGrant(id: string, state: OAuthRequestState) {
      const [row] = await db.query(
        `SELECT r.payload, r.consumed_at, r.grant_id, g.payload AS grant_payload FROM oauth_payloads r
         LEFT JOIN oauth_payloads g ON g.model = 'Grant' AND g.id = r.grant_id
           AND (g.expires_at IS NULL OR g.expires_at > now())
         WHERE r.model = 'RefreshToken' AND r.id = $1 AND (r.expires_at IS NULL OR r.expires_at > now())`,
        [id],
        'oauth_find_refresh',
      );
      if (row?.grant_id) state.grant = { id: row.grant_id, payload: row.grant_payload ?? undefined };
      return row;
    }

    private select(id: string) {
      return db.maybeOne(
        `SELECT payload, consumed_at FROM oauth_payloads
         WHERE model = $1 AND id = $2 AND (expires_at IS NULL OR expires_at > now())`,
        [this.model, id],
      );
    }

    async findByUid(uid: string) {
      const row = await db.maybeOne(
        `SELECT payload FROM oauth_payloads
         WHERE model = $1 AND uid = $2 AND (expires_at IS NULL OR expires_at > now())`,
        [this.model, uid],
      );
      return row?.payload;
    }

    async findByUserCode(userCode: string) {
      const row = await db.maybeOne(
        `SELECT payload FROM oauth_payloads
         WHERE model = $1 AND user_code = $2 AND (expires_at IS NULL OR expires_at > now())`,
        [this.model, userCode],
      );
      return row?.payload;
    }

    /** Atomic: only the first consume of an artifact succeeds; a concurrent second one is refused. */
    async consume(id: string): Promise<void> {
      const state = oauthRequest.getStore();
      if (this.model === 'RefreshToken' && state?.endpoint === 'token' && !state.consumePending) {
        // Held back: written with the replacement, refused there if another request was first.
        state.rotatedFrom = id;
        state.consumePending = true;
        return;
      }
      const row = await db.maybeOne(
        `UPDATE oauth_payloads SET consumed_at = now()
         WHERE model = $1 AND id = $2 AND consumed_at IS NULL RETURNING id`,
        [this.model, id],
      );
      if (!row)
        throw new errors.InvalidGrant(
          `${this.model === 'RefreshToken' ? 'refresh token' : 'grant'} already used`,
        );
      if (this.model === 'RefreshToken' && state) state.rotatedFrom = id;
    }

    async destroy(id: string): Promise<void> {
      await db.query('DELETE FROM oauth_payloads WHERE model = $1 AND id = $2', [this.model, id]);
      // The provider destroys a Grant only when it revokes it.
      if (this.model === 'Grant') {
        const endpoint = oauthRequest.getStore()?.endpoint;
        await deps.onGrantRevoked(
          id,
          endpoint === 'revocation' ? 'revoked_by_app' : endpoint === 'token' ? 'token_reuse' : 'revoked',
        );
      }
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await db.query('DELETE FROM oauth_payloads WHERE model = $1 AND grant_id = $2', [this.model, grantId]);
    }
  }

  /**
   * The refresh grace window. A client whose refresh response got lost
   * presents the token it just used. When that token was used less than
   * PLAZA_OAUTH_REFRESH_GRACE_SECONDS ago, by the same client, and the
   * token it was rotated into has not been used yet (so this is the
   * immediately previous token), the lost pair is invalidated (its refresh
   * token is marked used, so presenting it later counts as reuse; its access
   * token goes to the revocation set) and the presented token becomes
   * usable once more: the provider then rotates it as usual. Anything else
   * stays consumed and the provider treats it as reuse (the grant is revoked).
   */
  async function reopenWithinGrace(id: string): Promise<boolean> {
    const state = oauthRequest.getStore();
    if (state?.endpoint !== 'token' || !state.clientId) return false;
    const grace = deps.refreshGraceSeconds();
    if (grace <= 0) return false;
    // A rotation of this token may be in flight (consumed, its replacement not
    // saved yet): wait for it briefly, then replace what it produced.
    for (let attempt = 0; ; attempt++) {
      const outcome = await db.transaction(async (tx) => {
        const old = await tx.maybeOne(
          `SELECT payload->>'clientId' AS client_id, replaced_by,
                  consumed_at > now() - make_interval(secs => $2) AS recent
           FROM oauth_payloads WHERE model = 'RefreshToken' AND id = $1 AND consumed_at IS NOT NULL FOR UPDATE`,
          [id, grace],
        );
        if (!old?.recent || old.client_id !== state.clientId) return 'reuse';
        if (old.replaced_by) {
          if (old.replaced_by === INVALIDATED) return 'reuse';
          const lost = await tx.maybeOne(
            `UPDATE oauth_payloads SET consumed_at = now(), replaced_by = $2
             WHERE model = 'RefreshToken' AND id = $1 AND consumed_at IS NULL
             RETURNING access_jti, access_expires_at`,
            [old.replaced_by, INVALIDATED],
          );
          // Its replacement was used already: this is not the immediately previous token.
          if (!lost) return 'reuse';
          if (lost.access_jti) await deps.onPairReplaced(tx, lost.access_jti, lost.access_expires_at);
        } else if (attempt < ROTATION_WAIT_ATTEMPTS) return 'wait';
        await tx.query(
          "UPDATE oauth_payloads SET consumed_at = NULL, replaced_by = NULL WHERE model = 'RefreshToken' AND id = $1",
          [id],
        );
        return 'reopened';
      });
      if (outcome !== 'wait') return outcome === 'reopened';
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Remembers which access token went out with the refresh token issued in
   * this request. When that refresh token was already replaced by a retry in
   * the meantime, the access token is refused at once.
   */
  async function linkAccessToken(jti: string, expiresAt: number): Promise<void> {
    const state = oauthRequest.getStore();
    if (state?.pendingRefresh) return flushRotation(state, jti, expiresAt);
    if (!state?.issuedRefreshToken) return;
    const row = await db.maybeOne(
      `UPDATE oauth_payloads SET access_jti = $2, access_expires_at = to_timestamp($3)
       WHERE model = 'RefreshToken' AND id = $1 RETURNING consumed_at`,
      [state.issuedRefreshToken, jti, expiresAt],
    );
    if (row?.consumed_at)
      await db.transaction((tx) => deps.onPairReplaced(tx, jti, new Date(expiresAt * 1000)));
  }

  /**
   * Rotations are written together: one goes at once while fewer than
   * ROTATION_WRITERS statements are out; otherwise it waits for one of them and
   * goes with every rotation that waited meanwhile, in one statement and one
   * commit (oauth_rotate_refresh, migration 002: each is the single-token
   * statement, in order). A failed statement fails every rotation it carried.
   */
  type Rotation = {
    from: string;
    next: NonNullable<OAuthRequestState['pendingRefresh']>;
    payload: string;
    jti: string | null;
    accessExpiresAt: number | null;
  };
  const rotate = batched(
    async (rotations: Rotation[]) => {
      // In token order, so two batches (two processes) lock the tokens they share in the same order.
      const batch = [...rotations].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
      const written = await writeBatch(batch);
      return rotations.map((r) => written.has(r.next.id));
    },
    { max: ROTATION_BATCH_MAX, concurrency: ROTATION_WRITERS },
  );
  async function writeBatch(batch: Rotation[]): Promise<Set<string>> {
    const params = [
      batch.map((r) => r.from),
      batch.map((r) => r.next.id),
      batch.map((r) => r.payload),
      batch.map((r) => r.next.grantId),
      batch.map((r) => r.next.expiresIn),
      batch.map((r) => r.jti),
      batch.map((r) => r.accessExpiresAt),
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        const rows = await db.query(
          `SELECT r.id FROM oauth_rotate_refresh($1::text[], $2::text[], $3::text[], $4::text[],
             $5::bigint[], $6::text[], $7::float8[]) AS r(id)`,
          params,
          'oauth_rotate_refresh_batch',
        );
        return new Set(rows.map((row) => row.id as string));
      } catch (err) {
        // A batch holds several tokens' locks: a deadlock with another transaction (an uninstall
        // deleting a grant's tokens) rolled all of it back, so it is written again as it was.
        if ((err as { code?: string }).code !== '40P01' || attempt >= 3) throw err;
      }
    }
  }

  /**
   * A refresh in one write: the presented token is marked used and pointed
   * at its replacement, and the replacement is saved with the access token
   * issued beside it, only if the presented token was still unused (and
   * unexpired, its grant still there). Otherwise another request used it
   * first: this one is refused and writes nothing (as a failed consume would).
   */
  async function flushRotation(
    state: OAuthRequestState,
    jti: string | null,
    accessExpiresAt: number | null,
  ): Promise<void> {
    const next = state.pendingRefresh!;
    state.pendingRefresh = undefined;
    state.consumePending = false;
    const payload = JSON.stringify(next.payload);
    const written = await rotate({ from: state.rotatedFrom!, next, payload, jti, accessExpiresAt });
    if (!written) {
      if (state.fromMemory && state.fromMemory === state.rotatedFrom)
        return settleFromMemory(state, next, jti, accessExpiresAt);
      throw new errors.InvalidGrant('refresh token already used');
    }
    if (next.grantId && state.grant?.id === next.grantId && state.grant.payload)
      remember(
        next.id,
        next.payload,
        next.payload.exp,
        next.grantId,
        state.grant.json ?? JSON.stringify(state.grant.payload),
      );
  }

  /**
   * The rotation of a refresh token read from this process's memory found it
   * changed: read it again and do what the provider does after a fresh read,
   * then finish the rotation already prepared when that allows it. Every
   * outcome is one that a read at this moment would have had.
   */
  async function settleFromMemory(
    state: OAuthRequestState,
    next: NonNullable<OAuthRequestState['pendingRefresh']>,
    jti: string | null,
    accessExpiresAt: number | null,
  ): Promise<void> {
    const id = state.fromMemory!;
    state.fromMemory = undefined;
    const row = await db.maybeOne(
      `SELECT r.consumed_at, r.grant_id, EXISTS (SELECT 1 FROM oauth_payloads g
         WHERE g.model = 'Grant' AND g.id = r.grant_id AND (g.expires_at IS NULL OR g.expires_at > now())) AS granted
       FROM oauth_payloads r
       WHERE r.model = 'RefreshToken' AND r.id = $1 AND (r.expires_at IS NULL OR r.expires_at > now())`,
      [id],
    );
    if (!row) throw new errors.InvalidGrant('refresh token not found');
    if (!row.granted) throw new errors.InvalidGrant('grant not found');
    if (!row.consumed_at) throw new errors.InvalidGrant('refresh token already used');
    if (await reopenWithinGrace(id)) {
      state.pendingRefresh = next;
      state.consumePending = true;
      return flushRotation(state, jti, accessExpiresAt);
    }
    // Reuse: as the provider does with a used refresh token, every artifact of the grant goes, and the grant.
    await db.query('DELETE FROM oauth_payloads WHERE grant_id = $1', [row.grant_id]);
    await deps.onGrantRevoked(row.grant_id, 'token_reuse');
    throw new errors.InvalidGrant('refresh token already used');
  }

  return {
    adapter: (model: string) => (model === 'Client' ? new ClientAdapter() : new PostgresAdapter(model)),
    linkAccessToken,
    verifiedClientMetadata,
  };
}

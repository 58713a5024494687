import { forbidden } from '../../errors.ts';
import { batched } from '../../lib/batched.ts';
import { hasRole, type OrgContext } from '../../tenancy.ts';
import type { AppStatus, OAuthClientApp, OAuthClientVersion } from './model.ts';
import { iso, sha256 } from './rows.ts';
import type { AppsShared } from './shared.ts';
import { OPEN_STATES } from './transitions.ts';

/** Client credentials: rotating and verifying client secrets, and the OAuth client view of an app. */
export function clientCredentials(s: AppsShared) {
  const { db, config, audit, appOf, detail, insertSecret } = s;
  type SecretCheck = { clientId: string; secretHash: string };
  /** The app behind a client whose secret checked out. */
  type ClientApp = { appId: string; organizationId: string; status: AppStatus };
  // Every token request with a client secret asks: checks that arrive while one statement is out
  // go together in the next. Prepared, and its arrays pass as text cast in SQL, so its estimates do
  // not depend on their values and PostgreSQL keeps one generic plan (planning cost ten times running).
  const verifySecrets = batched(async (checks: SecretCheck[]): Promise<Array<ClientApp | null>> => {
    const rows = await db.query(
      `SELECT u.i, a.id, a.organization_id, a.status
         FROM unnest($1::text::text[], $2::text::text[]) WITH ORDINALITY AS u(client_id, secret_hash, i)
         JOIN apps a ON a.client_id = u.client_id
         JOIN app_client_secrets s ON s.app_id = a.id AND s.secret_hash = u.secret_hash
        WHERE s.expires_at IS NULL OR s.expires_at > now()`,
      [checks.map((c) => c.clientId), checks.map((c) => c.secretHash)],
      'apps.verify_client_secrets',
    );
    const found = new Map<number, ClientApp>();
    for (const r of rows)
      found.set(Number(r.i), { appId: r.id, organizationId: r.organization_id, status: r.status });
    return checks.map((_, i) => found.get(i + 1) ?? null);
  });
  return {
    /**
     * A new client secret, shown once. Secrets valid until now keep working
     * for `overlapHours` (default PLAZA_CLIENT_SECRET_OVERLAP_HOURS), so the
     * developer can deploy the new one without downtime.
     */
    async rotateClientSecret(ctx: OrgContext, appId: string, overlapHours = config.clientSecretOverlapHours) {
      if (!hasRole(ctx, 'admin')) throw forbidden('rotating the client secret needs the admin or owner role');
      return db.transaction(async (tx) => {
        const app = await appOf(tx, ctx, appId, true);
        const old = await tx.query(
          `UPDATE app_client_secrets
             SET expires_at = LEAST(coalesce(expires_at, 'infinity'), now() + $2::interval)
           WHERE app_id = $1 AND (expires_at IS NULL OR expires_at > now()) RETURNING id, expires_at`,
          [app.id, `${overlapHours} hours`],
        );
        const clientSecret = await insertSecret(tx, app.id);
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'app.client_secret_rotated',
          targetType: 'app',
          targetId: app.id,
          data: { overlapHours, previousSecrets: old.map((o) => o.id) },
        });
        return {
          clientId: app.client_id as string,
          clientSecret,
          previousSecretsExpireAt: old.length ? iso(old[0].expires_at) : null,
          app: await detail(tx, app),
        };
      });
    },

    /**
     * For the OAuth token endpoint: the app whose client this is, when the
     * secret is one of its current ones (or still in a rotation's overlap).
     */
    async verifyClientSecret(clientId: string, secret: string): Promise<ClientApp | null> {
      if (!clientId || !secret?.startsWith('plz_cs_')) return null;
      // No client has such an id, and a NUL would fail the statement for every check it carries.
      if (clientId.length > 255 || clientId.includes('\0')) return null;
      return verifySecrets({ clientId, secretHash: sha256(secret) });
    },

    /**
     * For the OAuth provider: the app behind a client id, with the redirect
     * URIs and scopes of its live version and of its open (unreviewed) version,
     * which only the developer's test accounts may use. Undefined when unknown.
     */
    async oauthClient(clientId: string): Promise<OAuthClientApp | undefined> {
      // One round trip: the token endpoint asks for every request.
      const app = await db.maybeOne(
        `SELECT a.id, a.organization_id, a.client_id, a.name, a.status,
           coalesce((SELECT json_agg(json_build_object('id', v.id, 'number', v.number, 'state', v.state,
               'name', v.name, 'redirect_uris', v.redirect_uris, 'scopes', v.scopes))
             FROM app_versions v WHERE v.app_id = a.id AND (v.state = 'live' OR v.state = ANY($2))), '[]') AS versions
         FROM apps a WHERE a.client_id = $1`,
        [clientId, [...OPEN_STATES]],
      );
      if (!app) return undefined;
      const versions: any[] = app.versions;
      const side = (v: any): OAuthClientVersion | null =>
        v
          ? {
              versionId: v.id,
              number: v.number,
              name: v.name,
              redirectUris: v.redirect_uris,
              scopes: v.scopes,
            }
          : null;
      return {
        appId: app.id,
        organizationId: app.organization_id,
        clientId: app.client_id,
        name: app.name,
        status: app.status,
        live: side(versions.find((v) => v.state === 'live')),
        open: side(versions.find((v) => OPEN_STATES.has(v.state))),
      };
    },
  };
}

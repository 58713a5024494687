import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyRoute } from '../../server/http/route.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, type SignedIn, signUp } from '../helpers/world.ts';

/**
 * The cross-tenant matrix for the plugins Plaza ships (billing, verticals,
 * data-products): the core matrix boots a fixture plugin only, so this one
 * walks every route the shipped plugins add, with the same rules: a person or
 * API key of organization B gets 403/404 and none of A's data on A's routes,
 * anonymous callers get 401, platform routes refuse people without a
 * platform role. A plugin route with a new path parameter needs one line in
 * PARAM_FIXTURES.
 */
const SHIPPED = ['billing', 'verticals', 'data-products'];

interface World {
  owner: SignedIn;
  orgs: Record<'developer' | 'agency' | 'account', { id: string; name: string }>;
  /** An owner API key of each organization (B's keys call A's routes). */
  keys: Record<'developer' | 'agency' | 'account', string>;
}

// The organization check comes first, so ids that do not exist still prove B is refused.
const PARAM_FIXTURES: Record<string, (a: World) => string> = {
  accountId: (a) => a.orgs.account.id,
  planId: () => 'plan_not_there',
  reservationId: () => 'crs_not_there',
  invoiceId: () => 'inv_not_there',
  product: () => 'weekly_new_contacts',
  vertical: () => 'dental-clinic',
  itemKey: () => 'not_there',
  templateKey: () => 'not_there',
  pipelineKey: () => 'not_there',
  plugin: () => 'billing',
};

let plaza: TestPlaza;
let a: World;
let b: World;
let pluginRoutes: AnyRoute[];

async function world(label: string): Promise<World> {
  const owner = await signUp(plaza, { name: `${label} Owner` });
  const orgs = {
    developer: await createOrg(owner, 'developer', `${label} Developer Org`),
    agency: await createOrg(owner, 'agency', `${label} Agency`),
    account: await createOrg(owner, 'account', `${label} Account`),
  };
  const keys = {} as World['keys'];
  for (const kind of ['developer', 'agency', 'account'] as const) {
    const key = await owner.agent
      .post(`/v1/organizations/${orgs[kind].id}/api-keys`)
      .set('x-csrf-token', owner.csrf)
      .send({ name: `${label} ${kind} key`, role: 'owner' })
      .expect(201);
    keys[kind] = key.body.secret;
  }
  return { owner, orgs, keys };
}

function kindFor(route: AnyRoute): 'developer' | 'agency' | 'account' {
  const kinds = route.access.kind === 'org' ? route.access.orgKinds : undefined;
  if (kinds?.includes('account')) return 'account';
  if (kinds?.includes('agency')) return 'agency';
  return kinds?.includes('developer') ? 'developer' : 'account';
}

function pathFor(route: AnyRoute, w: World): string {
  return route.path.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    if (name === 'orgId') return w.orgs[kindFor(route)].id;
    const fixture = PARAM_FIXTURES[name];
    if (!fixture)
      throw new Error(
        `route ${route.method.toUpperCase()} ${route.path}: add a PARAM_FIXTURES line for :${name}`,
      );
    return fixture(w);
  });
}

const secretsOf = (w: World) => [...Object.values(w.orgs).flatMap((o) => [o.id, o.name]), w.owner.user.email];

beforeAll(async () => {
  plaza = await startPlaza({ PLAZA_PLUGINS: SHIPPED.join(',') });
  const prefixes = SHIPPED.map((p) => `/v1/${p}/`);
  pluginRoutes = plaza.core.routes.filter(
    (r) => prefixes.some((p) => r.path.startsWith(p)) || r.path.includes('/plugins/:plugin/'),
  );
  a = await world('Alpha');
  b = await world('Beta');
});
afterAll(() => plaza.close());

describe('cross-tenant matrix of the shipped plugins', () => {
  it('finds every shipped plugin’s routes and a fixture for each parameter', () => {
    for (const name of SHIPPED)
      expect(
        pluginRoutes.some((r) => r.path.startsWith(`/v1/${name}/`)),
        name,
      ).toBe(true);
    for (const route of pluginRoutes) expect(() => pathFor(route, a)).not.toThrow();
  });

  it('a person or API key of organization B gets 403/404 and none of A’s data on A’s organization routes', async () => {
    const orgRoutes = pluginRoutes.filter((r) => r.access.kind === 'org');
    expect(orgRoutes.length).toBeGreaterThan(20);
    for (const route of orgRoutes) {
      for (const via of ['session', 'api key of B'] as const) {
        let req = plaza.http[route.method](pathFor(route, a));
        req =
          via === 'session'
            ? req.set('Cookie', cookieOf(b.owner)).set('x-csrf-token', b.owner.csrf)
            : req.set('Authorization', `Bearer ${b.keys[kindFor(route)]}`);
        const res = await req.send({});
        const label = `${route.method.toUpperCase()} ${route.path} as B (${via}) -> ${res.status}`;
        expect([403, 404], label).toContain(res.status);
        const text = JSON.stringify({ ...res.body, instance: undefined });
        for (const s of secretsOf(a)) expect(text.includes(s), `${label} leaks ${s}`).toBe(false);
      }
    }
  });

  it('A’s owner reads A’s organization pages of every plugin (the matrix uses real ids)', async () => {
    const reads = pluginRoutes.filter(
      (r) => r.access.kind === 'org' && r.method === 'get' && !/:(?!orgId)/.test(r.path),
    );
    expect(reads.length).toBeGreaterThan(5);
    for (const route of reads) {
      const res = await plaza.http.get(pathFor(route, a)).set('Cookie', cookieOf(a.owner));
      expect(res.status, `GET ${route.path}`).toBe(200);
    }
  });

  it('platform routes refuse people without a platform role', async () => {
    const platform = pluginRoutes.filter((r) => r.access.kind === 'platform');
    expect(platform.length).toBeGreaterThan(0);
    for (const route of platform) {
      const res = await plaza.http[route.method](pathFor(route, a))
        .set('Cookie', cookieOf(b.owner))
        .set('x-csrf-token', b.owner.csrf)
        .send({});
      expect(res.status, `${route.method.toUpperCase()} ${route.path}`).toBe(403);
    }
  });

  it('every non-public route refuses anonymous callers with 401', async () => {
    for (const route of pluginRoutes.filter((r) => r.access.kind !== 'public')) {
      const res = await plaza.http[route.method](pathFor(route, a)).send({});
      expect(res.status, `${route.method.toUpperCase()} ${route.path}`).toBe(401);
    }
  });
});

/** The session cookie of a signed-in test person (read from their agent's jar). */
function cookieOf(who: SignedIn): string {
  const jar = (who.agent as any).jar;
  const at = { domain: '127.0.0.1', path: '/', secure: false, script: false };
  return `plaza_session=${jar.getCookie('plaza_session', at).value}; plaza_session.sig=${jar.getCookie('plaza_session.sig', at).value}`;
}

/**
 * Custom domains: an agency adds a hostname, reads the TXT and CNAME records
 * to create, asks for a check; a job looks them up through a stub DNS
 * resolver (the production one is node:dns) and moves the domain along
 * pending DNS -> active -> misconfigured -> removed. The proxy's TLS
 * permission endpoint answers 200 only for active domains. Another agency
 * takes a hostname over only with its own fresh TXT proof. The host decides
 * the brand: an active domain shows its agency's, anything else the platform's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsResolver } from '../../server/modules/branding/index.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import { createOrg, type SignedIn, signUp } from '../helpers/world.ts';

/** DNS as the test sets it: names that are not set answer ENOTFOUND, like a real resolver. */
const txt = new Map<string, string[][]>();
const cname = new Map<string, string[]>();
const notFound = (name: string) =>
  Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
const resolver: DnsResolver = {
  async resolveTxt(name) {
    const found = txt.get(name);
    if (!found) throw notFound(name);
    return found;
  },
  async resolveCname(name) {
    const found = cname.get(name);
    if (!found) throw notFound(name);
    return found;
  },
};

let plaza: TestPlaza;
let ana: SignedIn;
let bo: SignedIn;
let anaAgency: { id: string };
let boAgency: { id: string };
const platformHost = () => new URL(plaza.core.config.baseUrl).hostname;

beforeAll(async () => {
  plaza = await startPlaza({}, { modules: { branding: { resolver, refreshMs: 100 } } });
  ana = await signUp(plaza, { name: 'Ana Agency' });
  bo = await signUp(plaza, { name: 'Bo Rival' });
  anaAgency = await createOrg(ana, 'agency', 'Ana Agency');
  boAgency = await createOrg(bo, 'agency', 'Bo Agency');
  for (const [who, org, name] of [
    [ana, anaAgency, 'Ana Apps'],
    [bo, boAgency, 'Bo Apps'],
  ] as const) {
    await who.agent
      .put(`/v1/organizations/${org.id}/branding/theme`)
      .set('x-csrf-token', who.csrf)
      .send({
        brandName: name,
        colours: { primary: '#1e3a8a', accent: '#b45309', background: '#ffffff', text: '#111111' },
      })
      .expect(200);
    await who.agent
      .post(`/v1/organizations/${org.id}/branding/theme/publish`)
      .set('x-csrf-token', who.csrf)
      .expect(200);
  }
}, 60_000);
afterAll(async () => plaza?.close());

const as = (who: SignedIn, org: { id: string }) => ({
  add: (hostname: string) =>
    who.agent.post(`/v1/organizations/${org.id}/domains`).set('x-csrf-token', who.csrf).send({ hostname }),
  verify: (id: string) =>
    who.agent.post(`/v1/organizations/${org.id}/domains/${id}/verify`).set('x-csrf-token', who.csrf),
  get: (id: string) => who.agent.get(`/v1/organizations/${org.id}/domains/${id}`),
  remove: (id: string) =>
    who.agent.delete(`/v1/organizations/${org.id}/domains/${id}`).set('x-csrf-token', who.csrf),
});
const tls = (domain: string) => plaza.http.get(`/v1/tls/allowed?domain=${encodeURIComponent(domain)}`);
const brandOn = async (host: string) =>
  (await plaza.http.get('/v1/branding/current').set('Host', host).expect(200)).body.brandName as string;

/** Asks for a check and waits for the job to have looked (lastCheckedAt moves). */
async function checked(who: ReturnType<typeof as>, id: string) {
  const before = (await who.get(id).expect(200)).body.lastCheckedAt;
  const asked = await who.verify(id).expect(200);
  expect(['verifying', 'active', 'misconfigured']).toContain(asked.body.state);
  return waitFor('the domain check', async () => {
    const now = (await who.get(id).expect(200)).body;
    return now.lastCheckedAt && now.lastCheckedAt !== before ? now : undefined;
  });
}

const publishRecords = (d: { records: Array<{ type: string; name: string; value: string }> }) => {
  for (const r of d.records)
    if (r.type === 'TXT') txt.set(r.name, [...(txt.get(r.name) ?? []), [r.value]]);
    else cname.set(r.name, [r.value]);
};

describe('custom domains', () => {
  const host = 'app.ana-agency.test';
  let domainId: string;

  it('shows the records, retries while DNS is missing, and serves the domain once they are there', async () => {
    const a = as(ana, anaAgency);
    const added = await a.add('App.Ana-Agency.test').expect(201);
    domainId = added.body.id;
    expect(added.body).toMatchObject({ hostname: host, state: 'pending_dns' });
    const [t, c] = added.body.records;
    expect(t).toMatchObject({ type: 'TXT', name: `_plaza-verify.${host}` });
    expect(t.value).toMatch(/^plaza-verify=[0-9a-f]{32}$/);
    expect(c).toEqual({ type: 'CNAME', name: host, value: platformHost() });

    const missing = await checked(a, domainId);
    expect(missing).toMatchObject({ state: 'pending_dns', failures: 1 });
    expect(missing.lastResult).toMatchObject({ ok: false });
    expect(missing.lastResult.txt).toMatch(
      /no TXT record at _plaza-verify\.app\.ana-agency\.test \(ENOTFOUND\)/,
    );
    // The next try is about a minute away, and shown.
    const wait = Date.parse(missing.nextCheckAt) - Date.now();
    expect(wait).toBeGreaterThan(30_000);
    expect(wait).toBeLessThan(90_000);
    await tls(host).expect(403);
    expect(await brandOn(host)).toBe('Plaza');

    publishRecords(added.body);
    const ok = await checked(a, domainId);
    expect(ok).toMatchObject({ state: 'active', failures: 0, lastResult: { ok: true } });
    expect(ok.verifiedAt).not.toBeNull();
    await tls(host).expect(200);
    // The host now shows Ana's brand, with a port as well.
    expect(await brandOn(host)).toBe('Ana Apps');
    expect(await brandOn(`${host}:8080`)).toBe('Ana Apps');
  });

  it('answers 403 to the proxy for unknown hosts, and shows them the platform brand', async () => {
    await tls('unknown.example.com').expect(403);
    const res = await tls('');
    expect(res.status).toBe(403);
    await tls(platformHost()).expect(200);
    expect(await brandOn('unknown.example.com')).toBe('Plaza');
    expect(await brandOn('evil.app.ana-agency.test')).toBe('Plaza');
  });

  it('lets a local trial (Plaza on localhost) use a *.localhost name without DNS records', async () => {
    expect(platformHost()).toBe('localhost');
    const a = as(ana, anaAgency);
    const trial = await a.add('trial.localhost').expect(201);
    expect((await checked(a, trial.body.id)).state).toBe('active');
    expect(await brandOn('trial.localhost:3000')).toBe('Ana Apps');
    await a.remove(trial.body.id).expect(200);
  });

  it('refuses a bad hostname, the platform host, and the same domain twice', async () => {
    const a = as(ana, anaAgency);
    const bad = await a.add('https://x.example.com/').expect(400);
    expect(bad.body.fields[0].field).toBe('body.hostname');
    await a.add('127.0.0.1').expect(400);
    await a.add(platformHost()).expect(400);
    await a.add(host).expect(409);
  });

  it('lets another agency take the hostname over only with its own fresh TXT proof', async () => {
    const b = as(bo, boAgency);
    const claim = await b.add(host).expect(201);
    expect(claim.body.state).toBe('pending_dns');
    // Ana's TXT and CNAME are in DNS, but they do not prove Bo's claim.
    const refused = await checked(b, claim.body.id);
    expect(refused.state).toBe('pending_dns');
    expect(refused.lastResult.txt).toMatch(/none is plaza-verify=/);
    expect(await brandOn(host)).toBe('Ana Apps');

    publishRecords(claim.body);
    expect((await checked(b, claim.body.id)).state).toBe('active');
    const lost = (await as(ana, anaAgency).get(domainId).expect(200)).body;
    expect(lost).toMatchObject({ state: 'removed', removedReason: 'taken_over' });
    expect(await brandOn(host)).toBe('Bo Apps');
    await tls(host).expect(200);
    // Ana cannot read Bo's domain.
    await as(ana, anaAgency).get(claim.body.id).expect(404);
  });

  it('turns misconfigured after three failed daily re-checks, and stops being served', async () => {
    const b = as(bo, boAgency);
    const list = (await bo.agent.get(`/v1/organizations/${boAgency.id}/domains`).expect(200)).body.data;
    const mine = list.find(
      (d: { hostname: string; state: string }) => d.hostname === host && d.state === 'active',
    );
    cname.set(host, ['elsewhere.example.net']);
    for (const n of [1, 2]) {
      const d = await checked(b, mine.id);
      expect(d).toMatchObject({ state: 'active', failures: n });
      expect(d.lastResult.cname).toMatch(/points to elsewhere\.example\.net, not /);
      // Re-checked daily while it holds.
      expect(Date.parse(d.nextCheckAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
    }
    expect((await checked(b, mine.id)).state).toBe('misconfigured');
    await tls(host).expect(403);
    await waitFor('the host map to drop it', async () => (await brandOn(host)) === 'Plaza');

    // Fixed DNS brings it back; removing it stops it at once.
    cname.set(host, [platformHost()]);
    expect((await checked(b, mine.id)).state).toBe('active');
    await tls(host).expect(200);
    const removed = await b.remove(mine.id).expect(200);
    expect(removed.body).toMatchObject({ state: 'removed', removedReason: 'removed_by_agency' });
    await tls(host).expect(403);
    expect(await brandOn(host)).toBe('Plaza');
  });
});

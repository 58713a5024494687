/**
 * White-label by host, over HTTP on a listening Plaza: Northwind (an agency)
 * has published its theme and verified app.northwind.test. Sue, whom it
 * invites into its sub-account Harbour Cafe, only ever uses that host: she
 * signs up, verifies her address, accepts the invitation, asks for a password
 * reset, and installs an app through the OAuth pages. Every email she gets and
 * every page she sees carries Northwind's brand and never the word Plaza or
 * the platform's host. On that host Plaza is the OAuth issuer of the host
 * (discovery, the code's `iss`, the tokens); the API accepts those tokens
 * while the domain is active and refuses them soon after it is removed.
 */

import type { Test } from 'supertest';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DnsResolver, ThemeInput } from '../../server/modules/branding/index.ts';
import type { OrgContext } from '../../server/tenancy.ts';
import { linkToken, mailTo } from '../helpers/email.ts';
import { png } from '../helpers/images.ts';
import { formFields, randomVerifier, s256 } from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import { type Person, person, registerApp, type TestApp, uniqueEmail } from '../helpers/world.ts';

const HOST = 'app.northwind.test';
const records = new Map<string, string[]>();
const resolver: DnsResolver = {
  resolveTxt: async (name) => (records.get(`TXT ${name}`) ?? []).map((v) => [v]),
  resolveCname: async (name) => records.get(`CNAME ${name}`) ?? [],
};

let plaza: PlazaServer;
let ana: Person;
let agency: OrgContext;
let sub: { id: string };
let app: TestApp;
let domainId: string;
let hostHeader: string;
let agencyOrigin: string;
const sueEmail = uniqueEmail('sue');
const suePassword = 'correct horse battery staple';

/** What must never show on the agency's host: the platform's name and its address. */
function expectUnbranded(what: string, text: string) {
  expect(text, `${what} names Plaza`).not.toMatch(/plaza/i);
  expect(text, `${what} names the platform host`).not.toContain(new URL(plaza.baseUrl).host);
}

beforeAll(async () => {
  plaza = await startPlazaServer({ modules: { branding: { resolver, refreshMs: 100 } } });
  hostHeader = `${HOST}:${new URL(plaza.baseUrl).port}`;
  agencyOrigin = `http://${hostHeader}`;
  const { organizations, branding } = plaza.core;
  ana = await person(plaza, 'Ana Northwind');
  const org = await organizations.create(ana.actor, { name: 'Northwind Agency', kind: 'agency' });
  agency = await organizations.resolveContext(ana.actor, org.id);
  const logo = await branding.uploadAsset(agency, 'logo', { contentType: 'image/png', bytes: png(200, 50) });
  await branding.saveDraft(
    agency,
    ThemeInput.parse({
      brandName: 'Northwind Apps',
      logoAssetId: logo.id,
      colours: { primary: '#0b5d1e', accent: '#c2410c', background: '#ffffff', text: '#111827' },
      font: 'serif',
      emailSenderName: 'Northwind Support',
      replyTo: 'help@northwind.example',
      footerText: 'Northwind Ltd, 1 Harbour Road',
    }),
  );
  await branding.publish(agency);
  const domain = await branding.domains.add(agency, HOST);
  domainId = domain.id;
  for (const r of domain.records) records.set(`${r.type} ${r.name}`, [r.value]);
  expect((await branding.domains.check(domainId))?.state).toBe('active');
  sub = await organizations.createSubAccount(agency, { name: 'Harbour Cafe' });
  app = await registerApp(plaza, {
    name: 'Review Booster',
    redirectUris: ['https://booster.example.com/callback'],
    scopes: [{ name: 'contacts:read' }],
  });
  browser = sue();
}, 60_000);
afterAll(async () => plaza?.close());

/** Sue's browser: every request on the agency's host. */
const sue = () => {
  const agent = supertest.agent(plaza.baseUrl);
  const on = (t: Test) => t.set('Host', hostHeader);
  return {
    agent,
    get: (path: string) => on(agent.get(path)).redirects(0),
    post: (path: string) => on(agent.post(path)).redirects(0),
  };
};
let browser: ReturnType<typeof sue>;
let csrf = '';

describe('on the agency host', () => {
  it('signs Sue up, and every email she gets carries the agency brand with links on its host', async () => {
    const signup = await browser
      .post('/v1/auth/signup')
      .send({ name: 'Sue Cafe', email: sueEmail, password: suePassword })
      .expect(201);
    csrf = signup.body.csrfToken;
    for (const cookie of [signup.headers['set-cookie'] ?? []].flat())
      expect(cookie, 'cookies stay on the host that set them').not.toMatch(/domain=/i);

    const verify = await mailTo(plaza, sueEmail, /verify/i);
    expect(verify.subject).toBe('Verify your email address for Northwind Apps');
    expect(verify.from).toMatch(/^"Northwind Support" </);
    expect(verify.replyTo).toBe('help@northwind.example');
    expect(verify.text).toContain(`${agencyOrigin}/verify-email?token=`);
    expect(verify.text).toContain('Northwind Ltd, 1 Harbour Road');
    expect(verify.html).toContain('#0b5d1e');
    expect(verify.html).toContain(`${agencyOrigin}/v1/branding/assets/`);
    await browser
      .post('/v1/auth/verify-email')
      .send({ token: linkToken(verify, '/verify-email') })
      .expect(200);

    // Ana invites her from the platform's host: the email still goes out under the agency's brand.
    const subCtx = await plaza.core.organizations.resolveContext(ana.actor, sub.id);
    await plaza.core.organizations.invite(subCtx, { email: sueEmail, role: 'admin' });
    const invitation = await mailTo(plaza, sueEmail, /invited you/);
    expect(invitation.subject).toMatch(/to Harbour Cafe on Northwind Apps$/);
    expect(invitation.text).toContain(`${agencyOrigin}/invitations/`);
    await browser
      .post(`/v1/invitations/${linkToken(invitation, '/invitations')}/accept`)
      .set('x-csrf-token', csrf)
      .expect(200);

    await browser.post('/v1/auth/password/forgot').send({ email: sueEmail }).expect(202);
    const reset = await mailTo(plaza, sueEmail, /password/i);
    expect(reset.subject).toBe('Reset your Northwind Apps password');
    expect(reset.text).toContain(`${agencyOrigin}/reset-password?token=`);

    for (const m of [verify, invitation, reset]) {
      // The address stays the platform's until the agency verifies a sending domain; the name is the agency's.
      const [, senderName, address] = /^"([^"]*)" <([^>]+)>$/.exec(m.from ?? '') ?? [];
      expect(senderName).toBe('Northwind Support');
      expect(address).toBe(/<([^>]+)>/.exec(plaza.core.config.mailFrom)?.[1]);
      expectUnbranded(`email "${m.subject}"`, `${m.subject}\n${senderName}\n${m.text}\n${m.html}`);
    }
  });

  it('is its own OAuth issuer; other hosts keep the platform issuer', async () => {
    const disco = await browser.get('/oauth/.well-known/openid-configuration').expect(200);
    expect(disco.body.issuer).toBe(`${agencyOrigin}/oauth`);
    expect(disco.body.authorization_endpoint).toBe(`${agencyOrigin}/oauth/auth`);
    expect(disco.body.token_endpoint).toBe(`${agencyOrigin}/oauth/token`);
    const platform = await plaza.http.get('/oauth/.well-known/openid-configuration').expect(200);
    expect(platform.body.issuer).toBe(plaza.issuer);
    // A spoofed Host is not an agency's: the platform's issuer, never another agency's.
    const spoofed = await plaza.http
      .get('/oauth/.well-known/openid-configuration')
      .set('Host', 'evil.example.com')
      .expect(200);
    expect(spoofed.body.issuer).toBe(plaza.issuer);
  });

  it('installs an app through branded pages; the token is the host’s and works until the domain goes', async () => {
    const verifier = randomVerifier();
    const q = new URLSearchParams({
      client_id: app.clientId,
      redirect_uri: app.redirectUri,
      response_type: 'code',
      scope: 'contacts:read',
      code_challenge: s256(verifier),
      code_challenge_method: 'S256',
      state: 'st-1',
    });
    // Signed out: the sign-in page. An unknown app: the error page. Both in the agency's brand.
    const signedOut = sue();
    const started = await signedOut.get(`/oauth/auth?${q}`).expect(303);
    const login = await signedOut.get(new URL(started.headers.location, agencyOrigin).pathname).expect(200);
    expect(login.text).toContain('name="password"');
    const unknown = await signedOut
      .get(`/oauth/auth?${new URLSearchParams({ ...Object.fromEntries(q), client_id: 'nobody' })}`)
      .expect(400);
    for (const [what, html] of [
      ['sign-in page', login.text],
      ['error page', unknown.text],
    ]) {
      expect(html).toContain('Northwind Apps');
      expectUnbranded(what, html);
    }

    let res = await browser.get(`/oauth/auth?${q}`);
    const pages: string[] = [];
    let callback: URL | undefined;
    for (let hop = 0; hop < 10 && !callback; hop++) {
      if (res.status >= 300 && res.status < 400) {
        const next = new URL(res.headers.location, agencyOrigin);
        if (next.host !== hostHeader) {
          callback = next;
          break;
        }
        res = await browser.get(next.pathname + next.search);
        continue;
      }
      expect(res.status, res.text.slice(0, 300)).toBe(200);
      pages.push(res.text);
      expect(res.text).toContain('Northwind Apps');
      expect(res.text).toContain('--brand: #0b5d1e');
      expectUnbranded(`page ${pages.length}`, res.text);
      const fields = formFields(res.text, /\/consent$/);
      const action = /<form method="post" action="([^"]*\/consent)"/.exec(res.text)![1];
      res = await browser
        .post(action)
        .type('form')
        .send(new URLSearchParams({ ...fields, decision: 'approve' }).toString());
    }
    expect(pages.length).toBeGreaterThan(0);
    expect(callback?.origin).toBe('https://booster.example.com');
    expect(callback?.searchParams.get('iss')).toBe(`${agencyOrigin}/oauth`);

    const token = await supertest(plaza.baseUrl)
      .post('/oauth/token')
      .set('Host', hostHeader)
      .auth(app.clientId, app.clientSecret)
      .type('form')
      .send(
        new URLSearchParams({
          grant_type: 'authorization_code',
          code: callback!.searchParams.get('code')!,
          redirect_uri: app.redirectUri,
          code_verifier: verifier,
        }).toString(),
      )
      .expect(200);
    const claims = JSON.parse(Buffer.from(token.body.access_token.split('.')[1], 'base64url').toString());
    expect(claims.iss).toBe(`${agencyOrigin}/oauth`);
    expect(claims.plaza_account).toBe(sub.id);
    const bearer = { authorization: `Bearer ${token.body.access_token}` };
    await plaza.http.get('/v1/contacts').set(bearer).expect(200);
    // The refresh token works at the host that issued it, and the new token names that issuer too.
    const refreshed = await supertest(plaza.baseUrl)
      .post('/oauth/token')
      .set('Host', hostHeader)
      .auth(app.clientId, app.clientSecret)
      .type('form')
      .send(
        new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: token.body.refresh_token,
        }).toString(),
      )
      .expect(200);
    const again = JSON.parse(Buffer.from(refreshed.body.access_token.split('.')[1], 'base64url').toString());
    expect(again.iss).toBe(`${agencyOrigin}/oauth`);

    // On the platform's host the sign-in page is the platform's, but the consent for Sue's
    // sub-account carries its agency's brand (by account).
    const platformAgent = supertest.agent(plaza.baseUrl);
    const onPlatform = await platformAgent.get(`/oauth/auth?${q}`).redirects(0).expect(303);
    const platformLogin = await platformAgent.get(
      new URL(onPlatform.headers.location, plaza.baseUrl).pathname,
    );
    expect(platformLogin.text).toContain('· Plaza</title>');
    const sueOnPlatform = supertest.agent(plaza.baseUrl);
    await sueOnPlatform.post('/v1/auth/login').send({ email: sueEmail, password: suePassword }).expect(200);
    let step = await sueOnPlatform.get(`/oauth/auth?${q}`).redirects(0);
    for (let hop = 0; hop < 5 && step.status === 303; hop++)
      step = await sueOnPlatform
        .get(
          new URL(step.headers.location, plaza.baseUrl).pathname +
            new URL(step.headers.location, plaza.baseUrl).search,
        )
        .redirects(0);
    expect(step.text).toContain('name="decision"');
    expect(step.text).toContain('· Northwind Apps</title>');
    expect(step.text).toContain('--brand: #0b5d1e');

    // The agency removes the domain: its issuer's tokens stop working within moments.
    await plaza.core.branding.domains.remove(agency, domainId);
    await waitFor('the removed issuer to be refused', async () => {
      const r = await plaza.http.get('/v1/contacts').set(bearer);
      return r.status === 401;
    });
    // And the host is the platform's again: its discovery names the platform issuer.
    const after = await browser.get('/oauth/.well-known/openid-configuration').expect(200);
    expect(after.body.issuer).toBe(plaza.issuer);
  });
});

import supertest from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientToken } from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import {
  type InstalledApp,
  type SignedIn,
  signInWithPlatformRole,
  withInstalledApp,
} from '../helpers/world.ts';

/**
 * Every operation of /openapi.json, called with a fixed set of hostile values
 * in each path parameter, query parameter and top-level body field (the other
 * inputs kept plausible), by a caller allowed to reach it: no answer may be a
 * 5xx, and every error must be application/problem+json. New routes are
 * covered by being in the document.
 */
type Json = any;
let plaza: PlazaServer;
let doc: Json;
let a: World;
let b: World;
let admin: SignedIn;

interface World {
  installed: InstalledApp;
  dev: SignedIn;
  owner: SignedIn;
  clientToken: string;
  ids: Record<string, string>;
}

async function signIn(email: string, password: string): Promise<SignedIn> {
  const agent = supertest.agent(plaza.app.callback());
  const res = await agent.post('/v1/auth/login').send({ email, password }).expect(200);
  return { agent, user: res.body.user, csrf: res.body.csrfToken };
}

async function world(label: string): Promise<World> {
  const installed = await withInstalledApp(plaza, {
    accountName: `${label} Shop`,
    scopes: [{ name: 'contacts:read' }, { name: 'contacts:write' }],
  });
  const dev = await signIn(installed.app.developerPerson.email, installed.app.developerPerson.password);
  const owner = await signIn(installed.owner.email, installed.owner.password);
  const agency = await owner.agent
    .post('/v1/organizations')
    .set('x-csrf-token', owner.csrf)
    .send({ name: `${label} Agency`, kind: 'agency' })
    .expect(201);
  const contact = await plaza.http
    .post('/v1/contacts')
    .set(installed.as)
    .send({ name: `${label} Contact`, email: `${label.toLowerCase()}@example.test` })
    .expect(201);
  return {
    installed,
    dev,
    owner,
    clientToken: await clientToken(plaza, installed.app),
    ids: {
      appId: installed.app.appId,
      versionId: installed.app.versionId,
      installationId: installed.installationId,
      accountId: installed.accountId,
      contactId: contact.body.id,
      userId: installed.owner.user.id,
      agencyId: agency.body.id,
      devOrgId: installed.app.developer.org.id,
    },
  };
}

beforeAll(async () => {
  plaza = await startPlazaServer({
    env: { PLAZA_LOGIN_MAX_FAILURES: '1000', WEBHOOKS_ALLOW_PRIVATE: 'true' },
    workers: false,
  });
  doc = (await plaza.http.get('/openapi.json').expect(200)).body;
  a = await world('Alpha');
  b = await world('Beta');
  admin = await signInWithPlatformRole(plaza, 'admin');
}, 120_000);
afterAll(() => plaza?.close());

const resolve = (s: Json): Json => (s?.$ref ? resolve(doc.components.schemas[s.$ref.split('/').pop()]) : s);

/** A plausible value for a schema, so that one hostile field is the only thing wrong. */
function sample(schema: Json, depth = 0): Json {
  const s = resolve(schema) ?? {};
  if (depth > 4) return null;
  if (s.const !== undefined) return s.const;
  if (s.enum) return s.enum[0];
  if (s.default !== undefined) return s.default;
  const alt = s.anyOf ?? s.oneOf;
  if (alt) return sample(alt.find((x: Json) => resolve(x)?.type !== 'null') ?? alt[0], depth + 1);
  const type = Array.isArray(s.type) ? s.type.find((t: string) => t !== 'null') : s.type;
  switch (type) {
    case 'object': {
      const out: Record<string, Json> = {};
      for (const k of s.required ?? []) out[k] = sample(s.properties?.[k] ?? {}, depth + 1);
      return out;
    }
    case 'array':
      return s.minItems ? [sample(s.items ?? {}, depth + 1)] : [];
    case 'integer':
    case 'number':
      return s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : 1);
    case 'boolean':
      return false;
    case 'string':
      if (s.format === 'email') return 'fuzz@example.test';
      if (s.format === 'uri') return 'https://example.com/fuzz';
      if (s.format === 'date-time') return new Date().toISOString();
      return 'f'.repeat(Math.max(1, s.minLength ?? 1));
    default:
      return 'fuzz';
  }
}

const DEEP = `${'['.repeat(5000)}${']'.repeat(5000)}`;
const MB = 'x'.repeat(1_000_000);
/** Hostile values for a path segment or a query value, already percent-encoded. */
const urlValues = (otherTenant: string) => [
  'a%00b',
  '%ED%A0%80', // a lone surrogate in CESU-8
  '%F0%9F', // a cut UTF-8 sequence
  '%', // malformed encoding
  'x'.repeat(4000), // long (a URL over 16 KB is refused by Node itself, before Plaza)
  '-1',
  '1e309',
  '..%2F..%2Fetc',
  encodeURIComponent(otherTenant),
];
/** Hostile JSON texts for one body field (a 1 MB string only where a string is expected: elsewhere it is one more wrong type). */
const bodyValues = (otherTenant: string, stringField: boolean) => [
  '"a\\u0000b"',
  '"\\ud800x"',
  ...(stringField ? [JSON.stringify(MB)] : []),
  '-1',
  '1e400',
  '-99999999999999999999999',
  'true',
  'null',
  '[]',
  '{"a\\u0000": 1}',
  DEEP,
  JSON.stringify(otherTenant),
];
/** Hostile whole bodies, for every operation that takes one. */
const WHOLE_BODIES = ['[]', '"a\\u0000b"', DEEP, '{"__proto__": {"admin": true}}', '{"\\ud800": 1}'];

interface Target {
  method: string;
  path: string;
  op: Json;
}

function callerFor(
  op: Json,
  w: World,
): { agent: TestAgent | null; headers: Record<string, string>; orgId: string } {
  const access = op['x-plaza-access'] ?? { kind: 'public' };
  const kinds: string[] = access.orgKinds ?? [];
  if (access.kind === 'app') return { agent: null, headers: w.installed.as, orgId: w.ids.accountId };
  if (access.kind === 'app_client')
    return { agent: null, headers: { authorization: `Bearer ${w.clientToken}` }, orgId: w.ids.devOrgId };
  if (access.kind === 'platform')
    return { agent: admin.agent, headers: { 'x-csrf-token': admin.csrf }, orgId: w.ids.devOrgId };
  if (kinds.includes('account') && !kinds.includes('developer'))
    return { agent: w.owner.agent, headers: { 'x-csrf-token': w.owner.csrf }, orgId: w.ids.accountId };
  if (kinds.includes('agency') && !kinds.includes('developer'))
    return { agent: w.owner.agent, headers: { 'x-csrf-token': w.owner.csrf }, orgId: w.ids.agencyId };
  return { agent: w.dev.agent, headers: { 'x-csrf-token': w.dev.csrf }, orgId: w.ids.devOrgId };
}

function paramValue(name: string, w: World, orgId: string): string {
  if (name === 'orgId') return orgId;
  return w.ids[name] ?? `${name.replace(/Id$/, '')}_fuzz0000000000000000000000`;
}

const timings: Array<[string, number]> = [];
interface Outcome {
  label: string;
  status: number;
  type: string;
  body: string;
}

async function send(
  t: Target,
  path: string,
  query: string,
  body: string | undefined,
  w: World,
): Promise<Outcome> {
  const { agent, headers } = callerFor(t.op, w);
  const client = agent ?? plaza.http;
  const url = `${path}${query ? `?${query}` : ''}`;
  let req = (client as any)[t.method](url).set(headers);
  if (body !== undefined) req = req.set('content-type', 'application/json').send(body);
  const started = performance.now();
  const res = await req.ok(() => true);
  timings.push([`${t.method} ${t.path}`, performance.now() - started]);
  return {
    label: `${t.method.toUpperCase()} ${url.slice(0, 160)}${body !== undefined ? ` body ${body.slice(0, 80)}` : ''}`,
    status: res.status,
    type: String(res.headers['content-type'] ?? ''),
    body: (res.text ?? '').slice(0, 300),
  };
}

/** Runs `jobs` with a few in flight at once. */
async function pool<T>(jobs: Array<() => Promise<T>>, width = 12): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]();
      }
    }),
  );
  return out;
}

describe('fuzzing every operation of /openapi.json', () => {
  it('answers hostile input with 4xx problem+json, never a 5xx', async () => {
    const targets: Target[] = [];
    for (const [path, item] of Object.entries<Json>(doc.paths))
      for (const [method, op] of Object.entries<Json>(item))
        if (['get', 'post', 'put', 'patch', 'delete'].includes(method)) targets.push({ method, path, op });
    // Operations that end the caller's session or delete what others use go last.
    const last = (t: Target) => (t.method === 'delete' || /logout|rotate|revoke/.test(t.path) ? 1 : 0);
    targets.sort((x, y) => last(x) - last(y));

    const jobs: Array<() => Promise<Outcome>> = [];
    const perField = {
      path: urlValues('').length,
      query: urlValues('').length,
      body: bodyValues('', true).length,
    };
    for (const t of targets) {
      const params: Json[] = t.op.parameters ?? [];
      const pathParams = params.filter((p) => p.in === 'path');
      const queryParams = params.filter((p) => p.in === 'query');
      const bodySchema = resolve(t.op.requestBody?.content?.['application/json']?.schema);
      const base = bodySchema ? sample(bodySchema) : undefined;
      const { orgId } = callerFor(t.op, a);
      const validPath = (override?: [string, string]) =>
        t.path.replace(/\{([^}]+)\}/g, (_, name) =>
          override && override[0] === name ? override[1] : encodeURIComponent(paramValue(name, a, orgId)),
        );
      const baseBody = base === undefined ? undefined : JSON.stringify(base);
      for (const p of pathParams)
        for (const v of urlValues(paramValue(p.name, b, callerFor(t.op, b).orgId)))
          jobs.push(() => send(t, validPath([p.name, v]), '', baseBody, a));
      for (const q of queryParams)
        for (const v of [...urlValues(b.ids.devOrgId), 'a&x=b'.replace('x', q.name)])
          jobs.push(() => send(t, validPath(), `${q.name}=${v}`, baseBody, a));
      if (bodySchema && t.op.requestBody?.content?.['application/json']) {
        for (const [field, fieldSchema] of Object.entries<Json>(bodySchema.properties ?? {}))
          for (const v of bodyValues(
            b.ids.contactId,
            JSON.stringify(resolve(fieldSchema) ?? {}).includes('"string"'),
          )) {
            const raw = JSON.stringify({ ...(base ?? {}), [field]: '\u0001FUZZ\u0001' }).replace(
              '"\\u0001FUZZ\\u0001"',
              v,
            );
            jobs.push(() => send(t, validPath(), '', raw, a));
          }
        for (const whole of WHOLE_BODIES) jobs.push(() => send(t, validPath(), '', whole, a));
      }
    }

    const outcomes = await pool(jobs);
    const bad = outcomes.filter(
      (o) => o.status >= 500 || (o.status >= 400 && !o.type.includes('application/problem+json')),
    );
    const fivexx = outcomes.filter((o) => o.status >= 500).length;
    console.log(
      `fuzz: ${targets.length} operations, ${outcomes.length} calls; hostile values per field: ` +
        `path ${perField.path}, query ${perField.query + 1}, body ${perField.body} (1 fewer for non-string fields; +${WHOLE_BODIES.length} whole bodies); ` +
        `5xx: ${fivexx}, non-problem errors: ${bad.length - fivexx}`,
    );
    if (process.env.FUZZ_PROFILE) {
      const by = new Map<string, number>();
      for (const [k, ms] of timings) by.set(k, (by.get(k) ?? 0) + ms);
      console.log(
        [...by]
          .sort((x, y) => y[1] - x[1])
          .slice(0, 15)
          .map(([k, ms]) => `${k} ${Math.round(ms)}`)
          .join('\n'),
      );
    }
    expect(targets.length).toBeGreaterThan(100);
    expect(bad.slice(0, 25), `${bad.length} bad answers`).toEqual([]);
  }, 240_000);
});

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Koa from 'koa';
import supertest from 'supertest';
import { describe, expect, it } from 'vitest';
import { serveWebApp } from '../../server/http/static.ts';

function webApp() {
  const dist = mkdtempSync(path.join(tmpdir(), 'plaza-dist-'));
  writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>Plaza</title>');
  mkdirSync(path.join(dist, 'assets'));
  writeFileSync(path.join(dist, 'assets', 'app.js'), 'console.log(1)');
  const app = new Koa();
  app.use(serveWebApp(dist, /^\/v1\//, 'http://localhost:3000'));
  return supertest(app.callback());
}

describe('the web app', () => {
  it('answers every page path with index.html, framing forbidden, images allowed from the public origin', async () => {
    const res = await webApp().get('/orgs/org_1/members').set('Accept', 'text/html').expect(200);
    expect(res.text).toContain('<title>Plaza</title>');
    const csp = res.headers['content-security-policy'];
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(/img-src 'self' http:\/\/localhost:3000 data:/);
  });

  it('serves built assets with a long cache and never walks out of the folder', async () => {
    const http = webApp();
    const js = await http.get('/assets/app.js').expect(200);
    expect(js.headers['cache-control']).toContain('immutable');
    for (const sneaky of [
      '/assets/..%2F..%2F..%2F..%2Fetc%2Fpasswd',
      '/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    ]) {
      const res = await http.get(sneaky);
      expect(res.text ?? '').not.toContain('root:');
    }
    await http.get('/v1/anything').expect(404);
  });
});

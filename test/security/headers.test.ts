import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';

let https: TestPlaza;
let http: TestPlaza;
beforeAll(async () => {
  https = await startPlaza({ PLAZA_PUBLIC_URL: 'https://plaza.example.com' }, { workers: false });
  http = await startPlaza({}, { workers: false });
});
afterAll(async () => {
  await https.close();
  await http.close();
});

describe('security headers', () => {
  it('Strict-Transport-Security on every answer when the public URL is https, not otherwise', async () => {
    for (const path of ['/healthz', '/v1/me', '/docs', '/openapi.json', '/no/such/page']) {
      const res = await https.http.get(path);
      expect(res.headers['strict-transport-security'], path).toMatch(/^max-age=\d{7,}/);
      expect((await http.http.get(path)).headers['strict-transport-security'], path).toBeUndefined();
    }
  });

  it('the API reference page may not be framed', async () => {
    const res = await http.http.get('/docs').expect(200);
    expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(res.headers['x-frame-options']).toBe('DENY');
  });
});

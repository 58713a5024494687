import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, configOptions, loadConfig } from '../../server/config.ts';

describe('configuration', () => {
  it('has embedded defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 3000,
      role: 'all',
      dataDir: '.plaza',
      plugins: [],
      devMailbox: true,
      baseUrl: 'http://localhost:3000',
    });
    expect(c.databaseUrl).toBeUndefined();
    expect(c.redisUrl).toBeUndefined();
  });

  it('names every bad variable and what is wrong', () => {
    let err: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        PLAZA_ROLE: 'cook',
        DATABASE_URL: 'mysql://x',
        PLAZA_TRUST_PROXY: 'maybe',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/PORT: must be a whole number \(got "eighty"\)/);
    expect(msg).toMatch(/PLAZA_ROLE: must be one of api, worker, all/);
    expect(msg).toMatch(/DATABASE_URL: must be a URL \(postgres: or postgresql:\)/);
    expect(msg).toMatch(/PLAZA_TRUST_PROXY: must be true or false/);
  });

  it('parses lists and booleans', () => {
    const c = loadConfig({
      PLAZA_PLUGINS: 'billing, verticals,',
      PLAZA_TRUST_PROXY: 'true',
      SMTP_URL: 'smtp://mail:25',
    });
    expect(c.plugins).toEqual(['billing', 'verticals']);
    expect(c.trustProxy).toBe(true);
    expect(c.devMailbox).toBe(false);
  });

  it('the README documents every option', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const opt of Object.values(configOptions)) expect(readme, opt.env).toContain(`\`${opt.env}\``);
  });
});

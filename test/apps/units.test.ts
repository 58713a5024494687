import { describe, expect, it } from 'vitest';
import { PlazaError } from '../../server/errors.ts';
import { renderMarkdown } from '../../server/lib/markdown.ts';
import { publicUrlProblem, redirectUriProblem } from '../../server/lib/urls.ts';
import { diffVersions, type VersionContent } from '../../server/modules/apps/diff.ts';
import { readImage } from '../../server/modules/apps/images.ts';
import { VersionFields } from '../../server/modules/apps/schemas.ts';
import {
  nextState,
  TRANSITIONS,
  VERSION_STATES,
  type VersionAction,
} from '../../server/modules/apps/transitions.ts';
import { runChecks } from '../../server/modules/reviews/checks.ts';
import { addBusinessDays } from '../../server/modules/reviews/sla.ts';
import { createMemoryStorage } from '../../server/storage/index.ts';
import { jpeg, png, webp } from '../helpers/images.ts';

const content = (over: Partial<VersionContent> = {}): VersionContent => ({
  ...VersionFields.parse({ name: 'Sync' }),
  iconAssetId: null,
  screenshotAssetIds: [],
  ...over,
});

describe('the version transition table', () => {
  it('allows exactly the listed transitions and refuses every other pair with 409', () => {
    const actions = Object.keys(TRANSITIONS) as VersionAction[];
    let allowed = 0;
    let refused = 0;
    for (const from of VERSION_STATES)
      for (const action of actions) {
        const to = TRANSITIONS[action][from];
        if (to) {
          expect(nextState(from, action)).toBe(to);
          allowed++;
        } else {
          let err: unknown;
          try {
            nextState(from, action);
          } catch (e) {
            err = e;
          }
          expect(err, `${from} --${action}-->`).toBeInstanceOf(PlazaError);
          expect((err as PlazaError).status).toBe(409);
          refused++;
        }
      }
    // 7 states x 9 actions: 11 legal edges, 52 refused pairs.
    expect({ allowed, refused }).toEqual({ allowed: 11, refused: 52 });
  });
});

describe('redirect URI and listing URL rules', () => {
  it('takes https and loopback http, nothing else', () => {
    for (const ok of [
      'https://example.com/cb',
      'https://example.com:8443/oauth/callback?x=1',
      'http://localhost:3000/cb',
      'http://127.0.0.1/cb',
      'http://[::1]:8080/cb',
    ])
      expect(redirectUriProblem(ok), ok).toBeUndefined();
    expect(redirectUriProblem('http://example.com/cb')).toMatch(/https/);
    expect(redirectUriProblem('https://*.example.com/cb')).toMatch(/wildcard/);
    expect(redirectUriProblem('https://example.com/cb#frag')).toMatch(/fragment/);
    expect(redirectUriProblem('/relative/cb')).toMatch(/absolute/);
    expect(redirectUriProblem('javascript:alert(1)')).toMatch(/https/);
    expect(redirectUriProblem('https://user:pw@example.com/cb')).toMatch(/user name/);
    expect(publicUrlProblem('https://example.com/privacy')).toBeUndefined();
    expect(publicUrlProblem('http://example.com/privacy')).toMatch(/https/);
    expect(publicUrlProblem('not a url')).toMatch(/well-formed/);
  });
});

describe('image sniffing', () => {
  it('reads type and size from PNG, JPEG and WebP bytes, and refuses others', () => {
    expect(readImage(png(128, 64))).toEqual({ type: 'image/png', width: 128, height: 64 });
    expect(readImage(jpeg(800, 600))).toEqual({ type: 'image/jpeg', width: 800, height: 600 });
    expect(readImage(webp(1024, 768))).toEqual({ type: 'image/webp', width: 1024, height: 768 });
    expect(readImage(Buffer.from('just some text, not an image'))).toBeUndefined();
    expect(readImage(png(128, 64).subarray(0, 12))).toBeUndefined(); // truncated before IHDR
    expect(readImage(Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'))).toBeUndefined();
  });
});

describe('Markdown rendering', () => {
  it('renders Markdown but never raw HTML, script URLs or foreign image schemes', () => {
    const html = renderMarkdown(
      '# Title\n\n<script>alert(1)</script> <img src=x onerror=alert(1)>\n\n' +
        '[click](javascript:alert(1)) [also](JAVASCRIPT:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=)\n\n' +
        '[docs](https://example.com/docs) ![shot](data:image/png;base64,AAAA)',
    );
    expect(html).toContain('<h1>Title</h1>');
    expect(html).not.toMatch(/<script|<img src="?x|<[^>]*onerror|href="(javascript|data)/i);
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('<a href="https://example.com/docs" rel="nofollow ugc noopener noreferrer"');
  });
});

describe('version diff', () => {
  const live = content({
    scopes: [
      { name: 'contacts:read', justification: 'sync', optional: false },
      { name: 'users:read', justification: 'names', optional: true },
    ],
    redirectUris: ['https://a.example/cb'],
    webhookEvents: ['app.data_request'],
    iconAssetId: 'ast_1',
  });

  it('a first version is a full review', () => {
    const d = diffVersions(null, live);
    expect(d).toMatchObject({
      firstVersion: true,
      reviewKind: 'full',
      reviewReasons: ['first version of the app'],
    });
  });

  it('listing text only: fast track, with before/after text', () => {
    const d = diffVersions(live, { ...live, tagline: 'New tagline', iconAssetId: 'ast_2' });
    expect(d.reviewKind).toBe('fast_track');
    expect(d.listing).toEqual([{ field: 'tagline', before: '', after: 'New tagline' }]);
    expect(d.assets.icon).toEqual({ before: 'ast_1', after: 'ast_2' });
    expect(d.unchanged).toBe(false);
    expect(diffVersions(live, live).unchanged).toBe(true);
  });

  it('added scopes, redirect URIs, events and pricing make a full review; changes are itemised', () => {
    const d = diffVersions(live, {
      ...live,
      scopes: [
        { name: 'contacts:read', justification: 'sync both ways', optional: false },
        { name: 'contacts:write', justification: 'write back', optional: false },
      ],
      redirectUris: ['https://b.example/cb'],
      webhookEvents: ['app.data_request', 'app.data_erasure'],
      pricing: { type: 'one_time', amount: 500, currency: 'EUR' },
    });
    expect(d.reviewKind).toBe('full');
    expect(d.scopes.added.map((s) => s.name)).toEqual(['contacts:write']);
    expect(d.scopes.removed.map((s) => s.name)).toEqual(['users:read']);
    expect(d.scopes.changed).toEqual([
      {
        name: 'contacts:read',
        before: { justification: 'sync', optional: false },
        after: { justification: 'sync both ways', optional: false },
      },
    ]);
    expect(d.redirectUris).toEqual({ added: ['https://b.example/cb'], removed: ['https://a.example/cb'] });
    expect(d.webhookEvents).toEqual({ added: ['app.data_erasure'], removed: [] });
    expect(d.pricing).toMatchObject({ changed: true, before: { type: 'free' } });
    expect(d.reviewReasons).toEqual([
      'adds scopes: contacts:write',
      'changes redirect URIs',
      'subscribes to more events: app.data_erasure',
      'changes pricing',
    ]);
  });

  it('removing a scope alone is not a reason for a full review', () => {
    const d = diffVersions(live, { ...live, scopes: live.scopes.slice(0, 1) });
    expect(d.reviewKind).toBe('fast_track');
  });
});

describe('automated checks', () => {
  const catalogs = {
    scope: (n: string) =>
      ({
        'contacts:read': { sensitivity: 'personal' as const },
        'account:read': { sensitivity: 'basic' as const },
      })[n],
    eventType: (t: string) =>
      ({
        'app.data_request': { scope: null },
        'app.data_erasure': { scope: null },
        'contact.created': { scope: 'contacts:read' },
      })[t],
  };

  it('records every check with a reason, and says what to fix', () => {
    const results = runChecks(
      content({
        supportUrl: 'http://example.com/help',
        scopes: [
          { name: 'contacts:read', justification: '', optional: false },
          { name: 'ghost:read', justification: 'x', optional: false },
        ],
        redirectUris: ['https://example.com/cb#x'],
        webhookEvents: ['contact.updated'],
      }),
      catalogs,
    );
    const byCheck = Object.fromEntries(results.map((r) => [r.check, r]));
    expect(Object.keys(byCheck)).toEqual([
      'urls_https',
      'scopes_known',
      'scopes_justified',
      'listing_complete',
      'redirect_uris_exact',
      'privacy_webhooks',
      'webhook_events',
    ]);
    expect(results.every((r) => !r.passed && r.reason.length > 0)).toBe(true);
    expect(byCheck.urls_https.reason).toBe('supportUrl must use https');
    expect(byCheck.scopes_known.reason).toMatch(/ghost:read/);
    expect(byCheck.scopes_justified.reason).toMatch(/contacts:read/);
    expect(byCheck.listing_complete.reason).toMatch(
      /icon.*description has 0 characters.*screenshot.*privacy/,
    );
    expect(byCheck.redirect_uris_exact.reason).toMatch(/fragment/);
    expect(byCheck.privacy_webhooks.reason).toMatch(/app\.data_request and app\.data_erasure/);
    expect(byCheck.webhook_events.reason).toMatch(/unknown event type contact\.updated/);
  });

  it('passes a complete version with reasons too', () => {
    const results = runChecks(
      content({
        description: 'x'.repeat(100),
        iconAssetId: 'ast_1',
        screenshotAssetIds: ['ast_2'],
        supportUrl: 'https://example.com/help',
        privacyUrl: 'https://example.com/privacy',
        scopes: [{ name: 'contacts:read', justification: 'sync', optional: false }],
        redirectUris: ['https://example.com/cb'],
        webhookEvents: ['app.data_request', 'app.data_erasure', 'contact.created'],
      }),
      catalogs,
    );
    expect(results.filter((r) => !r.passed)).toEqual([]);
    expect(results.every((r) => r.reason.length > 0)).toBe(true);
  });
});

describe('review target in business days', () => {
  it('skips weekends', () => {
    const wed = new Date('2026-01-07T10:00:00Z');
    expect(addBusinessDays(wed, 5).toISOString()).toBe('2026-01-14T10:00:00.000Z');
    const fri = new Date('2026-01-09T10:00:00Z');
    expect(addBusinessDays(fri, 1).toISOString()).toBe('2026-01-12T10:00:00.000Z');
    const sat = new Date('2026-01-10T10:00:00Z');
    expect(addBusinessDays(sat, 1).toISOString()).toBe('2026-01-12T10:00:00.000Z');
  });
});

describe('storage', () => {
  it('keeps bytes by key and refuses keys that could leave its folder', async () => {
    const storage = createMemoryStorage();
    await storage.put('apps/app_1/ast_1.png', Buffer.from('x'));
    expect((await storage.get('apps/app_1/ast_1.png'))?.toString()).toBe('x');
    await expect(storage.put('../etc/passwd', Buffer.from('x'))).rejects.toThrow(/not a storage key/);
    await expect(storage.get('apps/../../x')).rejects.toThrow(/not a storage key/);
  });
});

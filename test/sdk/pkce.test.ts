import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { codeChallengeS256, constantTimeEqual, createCodeVerifier, createState } from '../../sdk/src/pkce.ts';
import { decodeJwtClaims, tokensFromResponse } from '../../sdk/src/tokens.ts';

describe('PKCE', () => {
  it('matches the RFC 7636 appendix B example', async () => {
    expect(await codeChallengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  it('makes fresh 43-character verifiers of the unreserved set whose challenge node:crypto agrees with', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const verifier = createCodeVerifier();
      expect(verifier).toMatch(/^[A-Za-z0-9\-._~]{43}$/);
      expect(await codeChallengeS256(verifier)).toBe(
        createHash('sha256').update(verifier).digest('base64url'),
      );
      seen.add(verifier);
    }
    expect(seen.size).toBe(50);
  });

  it('refuses a verifier outside RFC 7636 (too short, too long, other characters)', async () => {
    await expect(codeChallengeS256('short')).rejects.toThrow(/43 to 128/);
    await expect(codeChallengeS256('a'.repeat(129))).rejects.toThrow(/43 to 128/);
    await expect(codeChallengeS256(`${'a'.repeat(42)}+`)).rejects.toThrow(/43 to 128/);
    await expect(codeChallengeS256('a'.repeat(128))).resolves.toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('makes states of 128 random bits, never twice the same', () => {
    const states = Array.from({ length: 200 }, createState);
    for (const s of states) expect(s).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(states).size).toBe(200);
  });

  it('compares states exactly', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', 'a')).toBe(false);
    expect(constantTimeEqual('é', 'e')).toBe(false);
  });
});

describe('token responses', () => {
  const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

  it('reads the installation from the access token and the expiry from expires_in', () => {
    const tokens = tokensFromResponse(
      {
        access_token: jwt({
          plaza_account: 'acct_1',
          plaza_installation: 'inst_1',
          plaza_app: 'app_1',
          scope: 'x',
        }),
        token_type: 'Bearer',
        expires_in: 900,
        refresh_token: 'rt1',
        scope: 'contacts:read account:read',
      },
      1_000_000,
    );
    expect(tokens).toMatchObject({
      refreshToken: 'rt1',
      expiresAt: 1_000_000 + 900_000,
      scopes: ['contacts:read', 'account:read'],
      accountId: 'acct_1',
      installationId: 'inst_1',
      appId: 'app_1',
    });
    // Plain JSON: it survives storage.
    expect(JSON.parse(JSON.stringify(tokens))).toEqual(tokens);
  });

  it('keeps what a refresh answer leaves out, and refuses answers that are not bearer tokens', () => {
    const previous = tokensFromResponse({
      access_token: 'opaque',
      token_type: 'bearer',
      expires_in: 60,
      refresh_token: 'rt',
      scope: 'a b',
    });
    const next = tokensFromResponse(
      { access_token: 'opaque2', token_type: 'Bearer', expires_in: 60 },
      Date.now(),
      previous,
    );
    expect(next.refreshToken).toBe('rt');
    expect(next.scopes).toEqual(['a', 'b']);
    expect(() => tokensFromResponse({ token_type: 'Bearer' })).toThrow(/access_token/);
    expect(() => tokensFromResponse({ access_token: 'x', token_type: 'DPoP' })).toThrow(/DPoP/);
  });

  it('decodes JWT claims without choking on opaque tokens', () => {
    expect(decodeJwtClaims(jwt({ a: 1, name: 'Zoë' }))).toEqual({ a: 1, name: 'Zoë' });
    expect(decodeJwtClaims('opaque')).toBeUndefined();
    expect(decodeJwtClaims('a.!!!.c')).toBeUndefined();
    expect(decodeJwtClaims(`a.${Buffer.from('[1]').toString('base64url')}.c`)).toBeUndefined();
  });
});

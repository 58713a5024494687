import { describe, expect, it } from 'vitest';
import { createExtensionRegistry, ExtensionPointError } from '../../server/lib/extension-points.ts';

describe('extension registry', () => {
  const codeOf = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(ExtensionPointError);
      return (err as ExtensionPointError).code;
    }
    return 'no error';
  };

  it('keeps what was added in order, refuses unknown points, a second single, and anything after seal', () => {
    const registry = createExtensionRegistry();
    const gate = registry.define('installation.gate', { owner: 'installations', description: 'gates' });
    const theme = registry.define('oauth.theme', { owner: 'oauth', description: 'theme', single: true });
    const a = { check: async () => {} };
    const b = { check: async () => {} };
    registry.add('installation.gate', a, 'plugin:a');
    registry.add('installation.gate', b, 'plugin:b');
    expect(gate.list()).toEqual([
      { by: 'plugin:a', value: a },
      { by: 'plugin:b', value: b },
    ]);
    registry.add('oauth.theme', () => undefined, 'plugin:a');
    expect(codeOf(() => registry.add('oauth.theme', () => undefined, 'plugin:b'))).toBe(
      'PLAZA_EXTENSION_TAKEN',
    );
    expect(theme.list().map((e) => e.by)).toEqual(['plugin:a']);
    expect(
      codeOf(() => registry.add('marketplace.pricing', { quote: async () => undefined }, 'plugin:a')),
    ).toBe('PLAZA_EXTENSION_UNKNOWN');
    expect(
      codeOf(() => registry.define('installation.gate', { owner: 'someone', description: 'again' })),
    ).toBe('PLAZA_EXTENSION_DEFINED_TWICE');
    registry.seal();
    expect(codeOf(() => registry.add('installation.gate', a, 'plugin:c'))).toBe('PLAZA_EXTENSION_SEALED');
    expect(gate.list()).toHaveLength(2);
  });
});

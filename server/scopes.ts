/**
 * The scope catalog: every scope an app can request, with the words the
 * consent screen shows. Core registers its scopes here; plugins add theirs
 * through their manifest.
 */
export interface ScopeDefinition {
  /** `resource:action`, e.g. `contacts:read`, or `resource:qualifier:action` (`data:weekly_new_contacts:read`). */
  name: string;
  /** Plain words for the consent screen: "See your contacts". */
  consentText: string;
  /** `personal` scopes touch personal data and need privacy webhooks (review checks). */
  sensitivity: 'basic' | 'personal' | 'financial';
  owner: string;
}

/**
 * `resource:action`, optionally with one qualifier between them for a
 * resource that has many named members (`data:<product>:read`).
 */
export const SCOPE_NAME = /^[a-z][a-z0-9_]*(?::[a-z][a-z0-9_]*)?:[a-z][a-z0-9_]*$/;

export type ScopeCatalog = ReturnType<typeof createScopeCatalog>;

export function createScopeCatalog() {
  const scopes = new Map<string, ScopeDefinition>();
  return {
    register(def: ScopeDefinition): void {
      if (!SCOPE_NAME.test(def.name)) throw new Error(`scope ${def.name} is not of the form resource:action`);
      const existing = scopes.get(def.name);
      if (existing) throw new Error(`scope ${def.name} is already registered by ${existing.owner}`);
      scopes.set(def.name, def);
    },
    get: (name: string) => scopes.get(name),
    list: () => [...scopes.values()].sort((a, b) => a.name.localeCompare(b.name)),
  };
}

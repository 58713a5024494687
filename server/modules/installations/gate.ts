import type { ExtensionRegistry } from '../../lib/extension-points.ts';
import type { Actor } from '../../tenancy.ts';

/** What a gate sees of an install about to happen (nothing is written yet). */
export interface InstallationGateInput {
  accountId: string;
  appId: string;
  versionId: string;
  /** The scopes the account is about to grant. */
  grantedScopes: string[];
  actor: Actor;
  /** The consent page (a person in the account) or an agency's bulk install. */
  via: 'consent' | 'bulk';
}

/**
 * `installation.gate`: a plugin's say over new installations (paid apps: the
 * billing work). `check` returns to let the install through, or throws a
 * PlazaError to refuse it — typically one of the plugin's own codes, e.g.
 * `ctx.error('PLAZA_BILLING_PAYMENT_REQUIRED', 'subscribe first', { extra: { checkoutUrl } })`.
 * The consent page shows the error's detail; a bulk install reports it per
 * sub-account (`not_installable`, the detail). Gates run in plugin setup
 * order before the OAuth grant is saved, outside any transaction, so a gate
 * may call a payment provider.
 */
export interface InstallationGate {
  check(input: InstallationGateInput): Promise<void>;
}

declare module '../../lib/extension-points.ts' {
  interface ExtensionPoints {
    'installation.gate': InstallationGate;
  }
}

export function createInstallationAdmission(extensions: ExtensionRegistry) {
  const gates = extensions.define('installation.gate', {
    owner: 'installations',
    description: 'May refuse (or ask payment for) a new installation before it is made',
  });
  return {
    /** Runs every `installation.gate`; throws the first refusal. Call before saving the grant. */
    async admit(input: InstallationGateInput): Promise<void> {
      for (const gate of gates.list()) await gate.value.check(input);
    },
  };
}

export type InstallationAdmission = ReturnType<typeof createInstallationAdmission>;

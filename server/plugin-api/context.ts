import type { Db, Queryable, Tx } from '../db/index.ts';
import type { PlazaError } from '../errors.ts';
import type { AnyRoute } from '../http/route.ts';
import type { JobDefinition, JobOptions } from '../jobs/types.ts';
import type { ExtensionPointId, ExtensionPoints } from '../lib/extension-points.ts';
import type { Logger } from '../logger.ts';
import type { PlazaEvent } from '../modules/events/index.ts';
import type { LedgerAccountRef, PostInput, PostResult } from '../modules/ledger/index.ts';
import type { Actor, OrgKind, Role } from '../tenancy.ts';
import type { PluginContacts, PluginInstallations } from './core-data.ts';

/**
 * What a plugin's `setup` receives: only the services a plugin may use, each
 * already narrowed to the plugin (its route prefix, its job namespace, the
 * event types it declared). Registration (`routes.add`, `events.subscribe`,
 * `jobs.define`) is open only while `setup` runs, because routes are mounted
 * and workers started once, right after.
 */
export interface PluginContext<C = Record<string, never>, S = Record<string, never>> {
  readonly name: string;
  readonly version: string;
  /** The `config` schema's output, parsed from `PLAZA_PLUGIN_<NAME>_<KEY>` variables at boot. */
  readonly config: Readonly<C>;
  /** The Plaza logger, with `plugin: <name>` on every line. */
  readonly log: Logger;
  /** The database, for this plugin's own tables (named `<plugin>_...`) only. */
  readonly db: Db;
  readonly routes: PluginRoutes;
  readonly events: PluginEvents;
  readonly jobs: PluginJobs;
  /** Emails through Plaza's mail queue (retried, SMTP or the dev mailbox). */
  readonly mail: PluginMail;
  /** The organization's audit log, in the caller's transaction. */
  readonly audit: PluginAudit;
  /** Per-organization settings declared by the manifest's `settings.schema` (defaults applied). */
  readonly settings: PluginSettings<S>;
  /** Organizations, read only: name, kind, parent, children, members. */
  readonly orgs: PluginOrgs;
  /** The double-entry ledger (balanced transactions; idempotency keys prefixed `<plugin>:`). */
  readonly ledger: PluginLedger;
  /** Charging the platform's own customers (plans, credits), not app purchases. */
  readonly payments: PluginPayments;
  /** An account's contact custom fields, tags and sample contacts, in the plugin's transaction (core-data.ts). */
  readonly contacts: PluginContacts;
  /** Apps installed in an account, marketplace listings, agency bulk installs (core-data.ts). */
  readonly installations: PluginInstallations;
  /**
   * Adds to an extension point a core module owns (`installation.gate`,
   * `oauth.theme`, `marketplace.pricing`; see plugins/README.md). Only while
   * setup runs: points are sealed before Plaza starts serving
   * (PLAZA_EXTENSION_SEALED), and a point that takes one extension refuses a
   * second (PLAZA_EXTENSION_TAKEN).
   */
  extend<K extends ExtensionPointId>(point: K, extension: ExtensionPoints[K]): void;
  /**
   * A client error with one of the codes the manifest declares in `errors`
   * (`PLAZA_<PLUGIN>_...`): throw it from a route or an extension and the
   * caller gets a problem+json with that code and status.
   */
  error(
    code: string,
    detail?: string,
    opts?: { fields?: Array<{ field: string; reason: string }>; extra?: Record<string, unknown> },
  ): PlazaError;
  /** Runs when Plaza shuts down, after the workers stopped; plugins stop in reverse load order. */
  onStop(fn: () => void | Promise<void>): void;
}

export interface PluginMail {
  /**
   * Queues an email rendered from Plaza's email templates
   * (`templates/emails/<template>.hbs`: a subject line, a blank line, the text),
   * or from the plugin's own, `plugins/<name>/emails/<template>.hbs`, named
   * `'<name>/<template>'` (same format).
   */
  send(template: string, data: Record<string, unknown> & { to: string }): Promise<void>;
}

export interface PluginAudit {
  /** Writes an audit entry in `q` (the transaction of the change). `action` is `<plugin>.<what>`. */
  record(
    q: Queryable,
    entry: {
      organizationId: string | null;
      actor: Actor;
      action: string;
      targetType?: string;
      targetId?: string;
      data?: Record<string, unknown>;
    },
  ): Promise<void>;
}

export interface PluginRoutes {
  /**
   * Adds routes declared with `defineRoute`. Their paths are relative to the
   * plugin's prefix: `/organizations/:orgId/items` answers at
   * `/v1/<plugin>/organizations/:orgId/items`.
   */
  add(...routes: AnyRoute[]): void;
}

export interface PluginEvents {
  /**
   * Calls `handler` for each committed event of these types, at least once
   * (make it idempotent: key writes on `event.id`). Allowed types: core
   * events, this plugin's own, and those of plugins it `requires`.
   */
  subscribe(types: string[], handler: (event: PlazaEvent) => Promise<void>): void;
  /**
   * Writes an event in `tx`: it exists only if `tx` commits. Only the event
   * types this plugin declared in its manifest. Returns the event id.
   */
  emit(
    tx: Tx,
    organizationId: string | null,
    type: string,
    payload: Record<string, unknown>,
  ): Promise<string>;
}

/** A job definition whose name is local to the plugin (`send`, queued as `<plugin>.send`). */
export type PluginJobDefinition<T = any> = JobDefinition<T>;

export interface PluginJobs {
  /** Declares a job `<plugin>.<name>`; handlers run at least once, so make them idempotent. */
  define<T>(def: PluginJobDefinition<T>): void;
  /** Queues one of this plugin's jobs by its local name. Returns the job id. */
  enqueue<T>(name: string, data: T, opts?: JobOptions): Promise<string>;
  /**
   * Runs a defined job every `everyMs` (with `null` data), once per interval
   * across all worker processes (a PostgreSQL schedule row, or a BullMQ job
   * scheduler). Only during setup, after `define`.
   */
  repeat(name: string, everyMs: number): void;
}

export interface PluginSettings<S> {
  /** The organization's settings: what it saved, defaults for the rest. Reads in `q` when given. */
  get(organizationId: string, q?: Queryable): Promise<S>;
  /**
   * Validates `values` (merged over the current ones) against the schema and
   * saves them in `q`, audited as `<plugin>.settings_updated`. A bad value
   * throws a 400 PlazaError naming the field. Returns the saved settings.
   */
  set(q: Queryable, organizationId: string, values: Partial<S>, actor: Actor): Promise<S>;
}

export interface PluginOrg {
  id: string;
  name: string;
  kind: OrgKind;
  /** The agency of a sub-account, else null. */
  parentId: string | null;
  createdAt: Date;
}

export interface PluginOrgs {
  /** The organization; throws 404 PLAZA_NOT_FOUND when there is none. */
  get(organizationId: string): Promise<PluginOrg>;
  /** An agency's sub-accounts (empty for other kinds). */
  children(agencyId: string): Promise<PluginOrg[]>;
  /** The people in the organization, with their role (for emails). */
  members(organizationId: string): Promise<Array<{ userId: string; email: string; role: Role }>>;
}

export interface PluginLedger {
  /**
   * Posts one balanced transaction in `tx` (the ledger port's rules: entries
   * sum to zero per side, positive bigint minor units, one currency). The
   * idempotency key is stored as `<plugin>:<key>`, so plugins never collide
   * with core or each other. Accounts: customer_receivable, platform_revenue,
   * provider_cash, processing_fees, and a credit to partner_pending(agency)
   * when the agency is the parent of an organization whose receivable the same
   * transaction debits (agency rebilling; paid out after its net terms).
   */
  post(tx: Tx, input: PostInput): Promise<PostResult>;
  /**
   * An account's balance in minor units, in its normal direction (0 when never used); in `tx`
   * when given (inside a transaction, read there: another connection could wait on your locks).
   */
  balance(account: LedgerAccountRef, currency: string, tx?: Tx): Promise<bigint>;
}

export interface PlatformCheckoutInput {
  /** The customer organization that pays. */
  organizationId: string;
  /** Minor units, > 0. */
  amount: bigint;
  currency: string;
  /** Shown on the payment page and the receipt. */
  description: string;
  /** The plugin's own id of what is paid (an invoice, a top-up); comes back in the events. */
  reference: string;
  successUrl: string;
  cancelUrl: string;
  /** See PlatformChargeSettles: the payment clears this receivable instead of booking revenue. */
  settles?: PlatformChargeSettles;
}

/**
 * What a charge pays when you booked the revenue yourself (an invoice posted as
 * debit customer_receivable(org), credit platform_revenue): payments then books
 * the success as provider cash + fee against that receivable, and you post
 * nothing at payment. `party` must be the paying `organizationId` (400 `settles.party`).
 */
export interface PlatformChargeSettles {
  /** `customer_credit_liability`: a prepayment (credits) booked as deferred revenue, not revenue. */
  kind: 'customer_receivable' | 'customer_credit_liability';
  party: string;
}

export interface PlatformChargeInput {
  organizationId: string;
  amount: bigint;
  currency: string;
  description: string;
  /** Same key, same charge: a retry never charges twice. Also the `reference` of the events. */
  idempotencyKey: string;
  /** See PlatformChargeSettles. */
  settles?: PlatformChargeSettles;
}

export interface PlatformChargeResult {
  status: 'succeeded' | 'failed';
  chargeId?: string;
  failureReason?: string;
  /** Present when the success was booked against this receivable (the charge had `settles`). */
  settles?: PlatformChargeSettles;
}

/**
 * Payments of the platform's own customers. Results also arrive as core
 * events, at least once: `platform_charge.succeeded` / `platform_charge.failed`
 * with payload `{ reference, chargeId, amount, currency }` (amount a number of
 * minor units), `reference` being the checkout's `reference` or the saved-method
 * charge's `idempotencyKey` (without the plugin prefix).
 */
export interface PluginPayments {
  readonly provider: 'sandbox' | 'stripe';
  /** A hosted payment page for one amount; the customer's card is saved for later charges. */
  checkout(input: PlatformCheckoutInput): Promise<{ sessionId: string; url: string }>;
  /** Charges the organization's saved payment method off-session. */
  chargeSavedMethod(input: PlatformChargeInput): Promise<PlatformChargeResult>;
}

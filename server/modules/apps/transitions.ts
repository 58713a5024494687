import { conflict } from '../../errors.ts';

/**
 * The one place version states change. Every write of `app_versions.state`
 * goes through `nextState`, so an approved version can never be edited and a
 * draft can never be published without review.
 *
 *   draft ──submit──> checking ──checks_passed──> queued ──claim──> in_review ──approve──> live ──superseded──> retired
 *     ^                  │                          │  ^               │  │
 *     └──checks_failed───┘          withdraw ───────┘  └───release─────┘  └──request_changes──> changes_requested ──submit──> checking
 */
export const VERSION_STATES = [
  'draft',
  'checking',
  'queued',
  'in_review',
  'changes_requested',
  'live',
  'retired',
] as const;
export type VersionState = (typeof VERSION_STATES)[number];

export type VersionAction =
  | 'submit'
  | 'checks_passed'
  | 'checks_failed'
  | 'withdraw'
  | 'claim'
  | 'release'
  | 'approve'
  | 'request_changes'
  | 'superseded';

export const TRANSITIONS: Record<VersionAction, Partial<Record<VersionState, VersionState>>> = {
  submit: { draft: 'checking', changes_requested: 'checking' },
  checks_passed: { checking: 'queued' },
  checks_failed: { checking: 'draft' },
  withdraw: { checking: 'draft', queued: 'draft' },
  claim: { queued: 'in_review' },
  release: { in_review: 'queued' },
  approve: { in_review: 'live' },
  request_changes: { in_review: 'changes_requested' },
  superseded: { live: 'retired' },
};

/** States in which a developer may change the version's content. */
export const EDITABLE_STATES: ReadonlySet<VersionState> = new Set(['draft', 'changes_requested']);
/** States of a version that is on its way (at most one per app). */
export const OPEN_STATES: ReadonlySet<VersionState> = new Set([
  'draft',
  'checking',
  'queued',
  'in_review',
  'changes_requested',
]);

export function nextState(from: VersionState, action: VersionAction): VersionState {
  const to = TRANSITIONS[action][from];
  if (!to) throw conflict(`a version that is ${from.replace('_', ' ')} cannot be ${ACTION_WORDS[action]}`);
  return to;
}

const ACTION_WORDS: Record<VersionAction, string> = {
  submit: 'submitted',
  checks_passed: 'queued for review',
  checks_failed: 'returned by the automated checks',
  withdraw: 'withdrawn',
  claim: 'claimed',
  release: 'released',
  approve: 'approved',
  request_changes: 'sent back with requested changes',
  superseded: 'retired',
};

import { computed, reactive } from 'vue';
import {
  ApiError,
  type AuthResult,
  api,
  errorMessage,
  type OrgSummary,
  setCsrfToken,
  type User,
} from './api.ts';

const CURRENT_ORG_KEY = 'plaza.currentOrg';

function readStoredOrg(): string | null {
  try {
    return localStorage.getItem(CURRENT_ORG_KEY);
  } catch {
    return null;
  }
}

/** Who is signed in, their organizations and which one they are working in. */
export const session = reactive({
  loaded: false,
  user: null as User | null,
  organizations: [] as OrgSummary[],
  currentOrgId: readStoredOrg(),
  /** Set when `/v1/me` failed for another reason than "not signed in". */
  error: null as string | null,
});

/** The remembered organization when the user still belongs to it, else their first one. */
export const currentOrg = computed<OrgSummary | null>(() => {
  const orgs = session.organizations;
  return orgs.find((o) => o.id === session.currentOrgId) ?? orgs[0] ?? null;
});

export function setCurrentOrg(orgId: string | null): void {
  session.currentOrgId = orgId;
  try {
    if (orgId) localStorage.setItem(CURRENT_ORG_KEY, orgId);
    else localStorage.removeItem(CURRENT_ORG_KEY);
  } catch {
    // storage may be disabled; the choice then lasts for this page only
  }
}

function signedOut(): void {
  session.user = null;
  session.organizations = [];
  setCsrfToken(null);
}

/** Reads `/v1/me`; a 401 simply means nobody is signed in. */
export async function loadSession(): Promise<void> {
  try {
    const me = await api.me();
    session.user = me.user;
    session.organizations = me.organizations ?? [];
    setCsrfToken(me.csrfToken);
    session.error = null;
  } catch (err) {
    signedOut();
    session.error = err instanceof ApiError && err.status === 401 ? null : errorMessage(err);
  } finally {
    session.loaded = true;
  }
}

/** After signup or login: keep the token, then read organizations. */
export async function signedIn(result: AuthResult): Promise<void> {
  session.user = result.user;
  setCsrfToken(result.csrfToken);
  await loadSession();
}

export async function logout(): Promise<void> {
  try {
    await api.logout();
  } finally {
    signedOut();
  }
}

/** Forget the session locally (the server said 401). */
export function sessionExpired(): void {
  signedOut();
}

/** Only same-site paths may be used as a "come back here" target. */
export function safeNext(next: unknown): string | null {
  const value = Array.isArray(next) ? next[0] : next;
  if (
    typeof value !== 'string' ||
    !value.startsWith('/') ||
    value.startsWith('//') ||
    value.startsWith('/\\')
  ) {
    return null;
  }
  return value;
}

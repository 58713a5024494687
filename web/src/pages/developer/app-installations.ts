import { reactive } from 'vue';
import { type DeveloperInstallation, webhooksApi } from '../../webhooks.ts';

/**
 * The app's active installations as its developer sees them, 100 at a time
 * (the webhook endpoint form's checklist, and account names on the endpoint
 * page). An app may be installed in thousands of accounts, so the rest come
 * with loadMore rather than all at once.
 */
export interface AppInstallations {
  list: DeveloperInstallation[];
  nextCursor: string | null;
  loading: boolean;
  /** The first page arrived (the list may be empty). */
  loaded: boolean;
  error: unknown;
  /** Reads the first page again (the list may have changed since the page opened). */
  load(): Promise<void>;
  loadMore(): Promise<void>;
  /** The loaded active installation with this id, if any. */
  find(id: string): DeveloperInstallation | undefined;
  /**
   * Whether an id is surely not active: every page is loaded and it is not
   * among them (it was uninstalled). While pages remain, nobody knows yet.
   */
  gone(id: string): boolean;
}

export function useAppInstallations(orgId: () => string, appId: () => string): AppInstallations {
  // Answers to an older request (a reload while a page was on its way) are dropped.
  let latest = 0;

  async function fetchPage(more: boolean) {
    const ticket = ++latest;
    state.loading = true;
    state.error = null;
    try {
      const p = await webhooksApi.installations(orgId(), appId(), more ? state.nextCursor : null);
      if (ticket !== latest) return;
      state.list = more ? [...state.list, ...p.data] : p.data;
      state.nextCursor = p.nextCursor;
      state.loaded = true;
    } catch (err) {
      if (ticket === latest) state.error = err;
    } finally {
      if (ticket === latest) state.loading = false;
    }
  }

  const state: AppInstallations = reactive({
    list: [],
    nextCursor: null,
    loading: false,
    loaded: false,
    error: null,
    load: () => fetchPage(false),
    loadMore: () => fetchPage(true),
    find: (id: string) => state.list.find((i) => i.id === id),
    gone: (id: string) => state.loaded && !state.nextCursor && !state.find(id),
  });
  return state;
}

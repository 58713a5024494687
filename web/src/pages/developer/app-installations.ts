import { reactive } from 'vue';
import { useCursorList } from '../../composables/useCursorList.ts';
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
  const pages = useCursorList((cursor) => webhooksApi.installations(orgId(), appId(), cursor));
  const state: AppInstallations = reactive({
    list: pages.items,
    nextCursor: pages.nextCursor,
    loading: pages.busy,
    loaded: pages.loadedOnce,
    error: pages.error,
    load: pages.reload,
    loadMore: pages.loadMore,
    find: (id: string) => state.list.find((i) => i.id === id),
    gone: (id: string) => state.loaded && !state.nextCursor && !state.find(id),
  });
  return state;
}

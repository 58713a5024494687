import { computed, type Ref, ref } from 'vue';
import type { Page } from '../api.ts';

/**
 * A cursor-paginated list on a page: the first page (`reload`), the next ones
 * (`loadMore`) and their state. A reload supersedes whatever is in flight: an
 * answer to an older call is dropped, so a slow search cannot overwrite a
 * newer one, and a "load more" started before a reload does not append to the
 * new list.
 */
export function useCursorList<P extends Page<unknown>, T = P['data'][number]>(
  fetchPage: (cursor: string | null) => Promise<P>,
  opts: {
    /** Shows an item once even when it moved onto a later page since the first one (a new sort position). */
    key?: (item: T) => string;
    /** Called with each page the list takes (never with a dropped, outdated answer). */
    onPage?: (page: P, cursor: string | null) => void;
  } = {},
) {
  const items = ref<T[]>([]) as Ref<T[]>;
  const nextCursor = ref<string | null>(null);
  /** The first page is on its way. */
  const loading = ref(false);
  /** A next page is on its way. */
  const loadingMore = ref(false);
  /** A first page has arrived (an empty list is then "nothing there", not "not loaded yet"). */
  const loadedOnce = ref(false);
  const error = ref<unknown>(null);
  let generation = 0;

  async function reload(): Promise<void> {
    const mine = ++generation;
    loading.value = true;
    loadingMore.value = false;
    error.value = null;
    try {
      const page = await fetchPage(null);
      if (mine !== generation) return;
      items.value = page.data as T[];
      nextCursor.value = page.nextCursor;
      loadedOnce.value = true;
      opts.onPage?.(page, null);
    } catch (err) {
      if (mine !== generation) return;
      items.value = [];
      nextCursor.value = null;
      error.value = err;
    } finally {
      if (mine === generation) loading.value = false;
    }
  }

  async function loadMore(): Promise<void> {
    if (!nextCursor.value || loading.value || loadingMore.value) return;
    const mine = generation;
    loadingMore.value = true;
    error.value = null;
    try {
      const cursor = nextCursor.value;
      const page = await fetchPage(cursor);
      if (mine !== generation) return;
      const seen = opts.key ? new Set(items.value.map(opts.key)) : null;
      items.value = [
        ...items.value,
        ...((seen ? page.data.filter((i) => !seen.has(opts.key!(i as T))) : page.data) as T[]),
      ];
      nextCursor.value = page.nextCursor;
      opts.onPage?.(page, cursor);
    } catch (err) {
      if (mine === generation) error.value = err;
    } finally {
      if (mine === generation) loadingMore.value = false;
    }
  }

  /** Either is on its way (for pages with one "Loading…" state). */
  const busy = computed(() => loading.value || loadingMore.value);

  return { items, nextCursor, loading, loadingMore, busy, loadedOnce, error, reload, loadMore };
}

import { describe, expect, it } from 'vitest';
import { ApiError, type Page } from '../../web/src/api.ts';
import { useCursorList } from '../../web/src/composables/useCursorList.ts';
import { useForm } from '../../web/src/composables/useForm.ts';

/** A fetch whose answers the test releases by hand, in any order. */
function manualPages<T>() {
  const calls: Array<{ cursor: string | null; answer(page: Page<T>): void; fail(err: unknown): void }> = [];
  const fetchPage = (cursor: string | null) =>
    new Promise<Page<T>>((answer, fail) => calls.push({ cursor, answer, fail }));
  return { calls, fetchPage };
}

describe('useCursorList', () => {
  it('pages through a list and keeps an outdated answer from overwriting a newer one', async () => {
    const { calls, fetchPage } = manualPages<{ id: string }>();
    const list = useCursorList(fetchPage, { key: (i) => i.id });

    const slow = list.reload();
    const fast = list.reload(); // the filter changed while the first search was on its way
    calls[1].answer({ data: [{ id: 'b1' }, { id: 'b2' }], nextCursor: 'c2' });
    await fast;
    calls[0].answer({ data: [{ id: 'stale' }], nextCursor: null });
    await slow;
    expect(list.items.value.map((i) => i.id)).toEqual(['b1', 'b2']);
    expect(list.loading.value).toBe(false);
    expect(list.loadedOnce.value).toBe(true);

    const more = list.loadMore();
    expect(calls[2].cursor).toBe('c2');
    expect(list.loadingMore.value).toBe(true);
    // b2 moved onto the next page meanwhile: shown once.
    calls[2].answer({ data: [{ id: 'b2' }, { id: 'b3' }], nextCursor: null });
    await more;
    expect(list.items.value.map((i) => i.id)).toEqual(['b1', 'b2', 'b3']);
    expect(list.nextCursor.value).toBeNull();
    await list.loadMore(); // nothing more to load: no request
    expect(calls).toHaveLength(3);
  });

  it('drops a next page that arrives after a reload, and shows a failed reload as an empty list with the error', async () => {
    const { calls, fetchPage } = manualPages<string>();
    const list = useCursorList(fetchPage);
    const first = list.reload();
    calls[0].answer({ data: ['a'], nextCursor: 'c1' });
    await first;

    const more = list.loadMore();
    const again = list.reload();
    calls[2].fail(new Error('offline'));
    await again;
    calls[1].answer({ data: ['late'], nextCursor: 'c9' });
    await more;
    expect(list.items.value).toEqual([]);
    expect(list.nextCursor.value).toBeNull();
    expect((list.error.value as Error).message).toBe('offline');
  });
});

describe('useForm', () => {
  it('stops before the request on its own checks, and shows the server’s field errors next to the fields', async () => {
    const form = useForm({ name: '' });
    let sent = 0;
    const run = async () => {
      sent++;
      throw new ApiError(400, {
        detail: 'The request is invalid',
        fields: [{ field: 'body.name', reason: 'is taken' }],
      });
    };
    const check = () => {
      if (!form.fields.name.trim()) form.invalid.name = 'Enter a name.';
    };

    expect(await form.submit(run, check)).toBe(false);
    expect(sent).toBe(0);
    expect(form.invalid).toEqual({ name: 'Enter a name.' });

    form.fields.name = 'Acme';
    expect(await form.submit(run, check)).toBe(false);
    expect(sent).toBe(1);
    expect(form.invalid).toEqual({ name: 'is taken' });
    expect(form.error.value).toBeInstanceOf(ApiError);
    expect(form.busy.value).toBe(false);

    expect(await form.submit(async () => {}, check)).toBe(true);
    expect(form.invalid).toEqual({});
    expect(form.error.value).toBeNull();
  });
});

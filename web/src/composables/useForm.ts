import { type Reactive, reactive, ref } from 'vue';
import { fieldErrorsOf } from '../api.ts';

/**
 * A form's state: its fields, the message per invalid field (from the
 * page's own checks, then from the server's problem+json `fields`), the error
 * of the last submit and whether one is on its way.
 */
export function useForm<F extends object>(initial: F) {
  const fields = reactive({ ...initial }) as Reactive<F>;
  /** Field name -> what is wrong with it, shown next to the field. */
  const invalid = reactive<Record<string, string>>({});
  const busy = ref(false);
  const error = ref<unknown>(null);

  /**
   * Clears the old messages, runs `check` (which fills `invalid`; any entry
   * stops the submit before a request), then `run`; a failure of `run` shows
   * as `error`, with each field the server named in `invalid`. True when `run`
   * succeeded.
   */
  async function submit(run: () => Promise<unknown>, check?: () => void): Promise<boolean> {
    for (const k of Object.keys(invalid)) delete invalid[k];
    error.value = null;
    check?.();
    if (Object.keys(invalid).length) return false;
    busy.value = true;
    try {
      await run();
      return true;
    } catch (err) {
      error.value = err;
      Object.assign(invalid, fieldErrorsOf(err));
      return false;
    } finally {
      busy.value = false;
    }
  }

  return { fields, invalid, busy, error, submit };
}

import type { Logger } from '../logger.ts';

/**
 * Multi-step writes that reach outside one database transaction (a provider's
 * grant, a payment, a file): each step says how to take itself back. When a
 * later step fails, the steps already done are undone in reverse order, then
 * the original error is thrown. An undo that fails is logged with the step's
 * name (something to clean up by hand) and the remaining undos still run.
 *
 * ```ts
 * await withCompensation(log, 'bulk install', async (step) => {
 *   const grantId = await step('grant', { do: () => saveGrant(...), undo: (id) => deleteGrant(id) });
 *   await step('installation', { do: () => db.transaction((tx) => create(grantId, tx)) });
 * });
 * ```
 */
export interface CompensatedStep<T> {
  do: () => Promise<T>;
  /** Takes back what `do` did; receives its result. Omit for the last step, or one in a transaction. */
  undo?: (result: T) => Promise<unknown>;
}

export type StepRunner = <T>(name: string, step: CompensatedStep<T>) => Promise<T>;

export async function withCompensation<T>(
  log: Logger,
  what: string,
  body: (step: StepRunner) => Promise<T>,
): Promise<T> {
  const done: Array<{ name: string; undo: () => Promise<unknown> }> = [];
  const step: StepRunner = async (name, s) => {
    const result = await s.do();
    if (s.undo) {
      const undo = s.undo;
      done.push({ name, undo: () => undo(result) });
    }
    return result;
  };
  try {
    return await body(step);
  } catch (err) {
    for (const { name, undo } of done.reverse()) {
      try {
        await undo();
      } catch (undoErr) {
        log.error({ err: undoErr, cause: err, step: name, what }, `${what}: undoing "${name}" failed`);
      }
    }
    // The caller sees the error that started it all (a PlazaError keeps its status and code).
    throw err;
  }
}

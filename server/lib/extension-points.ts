/**
 * Typed extension points (backstage-style): a core module owns a point and
 * reads what was added to it; plugins add to it while their setup runs. Once
 * every plugin is set up the registry is sealed, so what a point holds never
 * changes while requests are served.
 *
 * The owner declares the point's type by declaration merging, beside its
 * service:
 *
 * ```ts
 * declare module '../../lib/extension-points.ts' {
 *   interface ExtensionPoints { 'installation.gate': InstallationGate }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging in the owning modules
export interface ExtensionPoints {}

export type ExtensionPointId = keyof ExtensionPoints;

export type ExtensionErrorCode =
  | 'PLAZA_EXTENSION_SEALED'
  | 'PLAZA_EXTENSION_UNKNOWN'
  | 'PLAZA_EXTENSION_TAKEN'
  | 'PLAZA_EXTENSION_DEFINED_TWICE';

/** Misuse of an extension point: a programming error, named by a stable code. */
export class ExtensionPointError extends Error {
  readonly code: ExtensionErrorCode;
  constructor(code: ExtensionErrorCode, message: string) {
    super(message);
    this.name = 'ExtensionPointError';
    this.code = code;
  }
}

export interface Extension<T> {
  /** Who added it (`plugin:billing`). */
  by: string;
  value: T;
}

/** An owner's handle on its point: what was added, in plugin setup order. */
export interface ExtensionPoint<T> {
  readonly id: string;
  readonly owner: string;
  /** At most one extension (a second `add` throws PLAZA_EXTENSION_TAKEN). */
  readonly single: boolean;
  list(): ReadonlyArray<Extension<T>>;
}

export interface ExtensionPointInfo {
  id: string;
  owner: string;
  single: boolean;
  description: string;
  added: string[];
}

export function createExtensionRegistry() {
  const points = new Map<
    string,
    { info: Omit<ExtensionPointInfo, 'added'>; added: Array<Extension<unknown>> }
  >();
  let sealed = false;

  return {
    /** Declares a point; its owner keeps the handle and reads it on each use. */
    define<K extends ExtensionPointId>(
      id: K,
      opts: { owner: string; description: string; single?: boolean },
    ): ExtensionPoint<ExtensionPoints[K]> {
      if (points.has(id))
        throw new ExtensionPointError(
          'PLAZA_EXTENSION_DEFINED_TWICE',
          `extension point ${id} is defined twice`,
        );
      const entry = {
        info: { id, owner: opts.owner, single: opts.single ?? false, description: opts.description },
        added: [] as Array<Extension<unknown>>,
      };
      points.set(id, entry);
      return {
        id,
        owner: opts.owner,
        single: entry.info.single,
        list: () => entry.added as Array<Extension<ExtensionPoints[K]>>,
      };
    },
    /** Adds to a point; only before `seal` (during plugin setup). */
    add<K extends ExtensionPointId>(id: K, value: ExtensionPoints[K], by: string): void {
      if (sealed)
        throw new ExtensionPointError(
          'PLAZA_EXTENSION_SEALED',
          `${by} cannot add to extension point ${id}: extension points are sealed once plugins are set up (add in setup)`,
        );
      const entry = points.get(id);
      if (!entry)
        throw new ExtensionPointError(
          'PLAZA_EXTENSION_UNKNOWN',
          `${by} adds to extension point ${id}, which no module defines (known: ${[...points.keys()].join(', ') || 'none'})`,
        );
      if (entry.info.single && entry.added.length)
        throw new ExtensionPointError(
          'PLAZA_EXTENSION_TAKEN',
          `${by} cannot add to extension point ${id}: it takes one extension and ${entry.added[0].by} added it`,
        );
      entry.added.push({ by, value });
    },
    seal(): void {
      sealed = true;
    },
    get sealed() {
      return sealed;
    },
    /** Every point with who added to it (docs, diagnostics). */
    list(): ExtensionPointInfo[] {
      return [...points.values()].map((p) => ({ ...p.info, added: p.added.map((a) => a.by) }));
    },
  };
}

export type ExtensionRegistry = ReturnType<typeof createExtensionRegistry>;

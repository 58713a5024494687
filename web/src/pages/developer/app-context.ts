import { type InjectionKey, inject, type Ref } from 'vue';
import type { Organization } from '../../api.ts';
import type { AppVersion, DevApp } from '../../registry.ts';

/** What the app pages share: the app, the version being worked on, and ways to refresh them. */
export interface AppContext {
  org: Ref<Organization>;
  app: Ref<DevApp>;
  /** The open version (draft ... in review), else the live one, else the newest. */
  version: Ref<AppVersion | null>;
  /** Re-reads the app and its working version. */
  reload(): Promise<void>;
  /** A fresher copy of the working version (from a PATCH or upload answer). */
  setVersion(v: AppVersion): void;
}

export const APP_CONTEXT: InjectionKey<AppContext> = Symbol('app-context');

export function useAppContext(): AppContext {
  const ctx = inject(APP_CONTEXT);
  if (!ctx) throw new Error('app pages must be inside AppLayout');
  return ctx;
}

import { ref } from 'vue';

/**
 * A client secret just returned by the API, handed from the "new app" page to
 * the app page in memory only: it is never put in the address or in storage,
 * so a reload shows it no more.
 */
export const freshSecret = ref<{ appId: string; clientId: string; secret: string; heading: string } | null>(
  null,
);

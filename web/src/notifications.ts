import { reactive } from 'vue';
import { registry } from './registry.ts';

/** The unread count of the top-bar bell, shared with the notifications page. */
export const inbox = reactive({ unread: 0, available: true });

/** Reads the unread count; a failure leaves the bell as it was. */
export async function refreshUnread(): Promise<void> {
  try {
    const page = await registry.notifications({ unread: true, limit: 1 });
    inbox.unread = page.unreadCount;
    inbox.available = true;
  } catch {
    // Not signed in any more, or the server is away: try again later.
  }
}

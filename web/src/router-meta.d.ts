import 'vue-router';

declare module 'vue-router' {
  interface RouteMeta {
    /** Anyone may open the page, signed in or not. */
    public?: boolean;
    /** Only for people who are not signed in (login, signup). */
    guestOnly?: boolean;
    /** Page title, shown in the browser tab. */
    title?: string;
  }
}

import { createApp } from 'vue';
import App from './App.vue';
import { setUnauthorizedHandler } from './api.ts';
import { router } from './router.ts';
import { sessionExpired } from './session.ts';
import './styles.css';

// A signed-in request answered 401: the session ended (expired, logged out elsewhere).
setUnauthorizedHandler(() => {
  sessionExpired();
  const here = router.currentRoute.value;
  if (!here.meta.public && !here.meta.guestOnly) {
    void router.push({ name: 'login', query: { next: here.fullPath, expired: '1' } });
  }
});

createApp(App).use(router).mount('#app');

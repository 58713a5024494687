import { defineModule } from '../module.ts';
import { appApiRoutes } from './routes.ts';

/** The API installed apps call with their access tokens (the account, its people, the app itself). */
export default defineModule({
  name: 'app-api',
  routesUse: ['organizations', 'installations', 'apps', 'webhooks'],
  routes: (deps) => appApiRoutes(deps),
});

import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router';
import ApiKeysPage from './pages/ApiKeysPage.vue';
import AuditPage from './pages/AuditPage.vue';
import HomePage from './pages/HomePage.vue';
import InvitationPage from './pages/InvitationPage.vue';
import LoginPage from './pages/LoginPage.vue';
import MailboxPage from './pages/MailboxPage.vue';
import MembersPage from './pages/MembersPage.vue';
import NewOrgPage from './pages/NewOrgPage.vue';
import NotFoundPage from './pages/NotFoundPage.vue';
import OrgLayout from './pages/OrgLayout.vue';
import SignupPage from './pages/SignupPage.vue';
import SubAccountsPage from './pages/SubAccountsPage.vue';
import { loadSession, safeNext, session } from './session.ts';

const routes: RouteRecordRaw[] = [
  { path: '/', name: 'home', component: HomePage, meta: { title: 'Organizations' } },
  { path: '/login', name: 'login', component: LoginPage, meta: { guestOnly: true, title: 'Sign in' } },
  {
    path: '/signup',
    name: 'signup',
    component: SignupPage,
    meta: { guestOnly: true, title: 'Create account' },
  },
  { path: '/orgs/new', name: 'org-new', component: NewOrgPage, meta: { title: 'New organization' } },
  {
    path: '/orgs/:orgId',
    component: OrgLayout,
    props: true,
    children: [
      { path: '', redirect: (to) => ({ name: 'members', params: to.params }) },
      { path: 'members', name: 'members', component: MembersPage, meta: { title: 'Members' } },
      {
        path: 'sub-accounts',
        name: 'sub-accounts',
        component: SubAccountsPage,
        meta: { title: 'Sub-accounts' },
      },
      { path: 'api-keys', name: 'api-keys', component: ApiKeysPage, meta: { title: 'API keys' } },
      { path: 'audit', name: 'audit', component: AuditPage, meta: { title: 'Audit log' } },
    ],
  },
  {
    path: '/invitations/:token',
    name: 'invitation',
    component: InvitationPage,
    props: true,
    meta: { public: true, title: 'Invitation' },
  },
  {
    path: '/dev/mailbox',
    name: 'mailbox',
    component: MailboxPage,
    meta: { public: true, title: 'Dev mailbox' },
  },
  {
    path: '/:pathMatch(.*)*',
    name: 'not-found',
    component: NotFoundPage,
    meta: { public: true, title: 'Not found' },
  },
];

export const router = createRouter({
  history: createWebHistory('/'),
  routes,
  scrollBehavior: () => ({ top: 0 }),
});

router.beforeEach(async (to) => {
  if (!session.loaded) await loadSession();
  if (to.meta.guestOnly && session.user) return safeNext(to.query.next) ?? '/';
  if (!to.meta.public && !to.meta.guestOnly && !session.user) {
    return { name: 'login', query: to.fullPath === '/' ? {} : { next: to.fullPath } };
  }
  return true;
});

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} · Plaza` : 'Plaza';
});

import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router';
import { brandName } from './branding.ts';
import ApiKeysPage from './pages/ApiKeysPage.vue';
import AuditPage from './pages/AuditPage.vue';
import AgencyDashboardPage from './pages/agency/AgencyDashboardPage.vue';
import PausedAccountPage from './pages/agency/PausedAccountPage.vue';
import ResalePage from './pages/agency/ResalePage.vue';
import TemplatesPage from './pages/agency/TemplatesPage.vue';
import BillingPage from './pages/BillingPage.vue';
import BrandingPage from './pages/BrandingPage.vue';
import BulkInstallPage from './pages/BulkInstallPage.vue';
import ContactsPage from './pages/ContactsPage.vue';
import CliLoginPage from './pages/cli/CliLoginPage.vue';
import AppCredentialsPage from './pages/developer/AppCredentialsPage.vue';
import AppDiffPage from './pages/developer/AppDiffPage.vue';
import AppLayout from './pages/developer/AppLayout.vue';
import AppListingPage from './pages/developer/AppListingPage.vue';
import AppManifestPage from './pages/developer/AppManifestPage.vue';
import AppStatusPage from './pages/developer/AppStatusPage.vue';
import AppVersionPage from './pages/developer/AppVersionPage.vue';
import AppWebhookEndpointPage from './pages/developer/AppWebhookEndpointPage.vue';
import AppWebhooksPage from './pages/developer/AppWebhooksPage.vue';
import DevAppsPage from './pages/developer/DevAppsPage.vue';
import EarningsPage from './pages/developer/EarningsPage.vue';
import NewAppPage from './pages/developer/NewAppPage.vue';
import PayoutsAccountPage from './pages/developer/PayoutsAccountPage.vue';
import TestAccountsPage from './pages/developer/TestAccountsPage.vue';
import ForgotPasswordPage from './pages/ForgotPasswordPage.vue';
import HomePage from './pages/HomePage.vue';
import InstalledAppsPage from './pages/InstalledAppsPage.vue';
import InvitationPage from './pages/InvitationPage.vue';
import LoginPage from './pages/LoginPage.vue';
import MailboxPage from './pages/MailboxPage.vue';
import MembersPage from './pages/MembersPage.vue';
import MarketplaceAppPage from './pages/marketplace/MarketplaceAppPage.vue';
import MarketplacePage from './pages/marketplace/MarketplacePage.vue';
import NewOrgPage from './pages/NewOrgPage.vue';
import NotFoundPage from './pages/NotFoundPage.vue';
import NotificationsPage from './pages/NotificationsPage.vue';
import OrgLayout from './pages/OrgLayout.vue';
import AppsPage from './pages/operations/AppsPage.vue';
import FinancePage from './pages/operations/FinancePage.vue';
import ModerationPage from './pages/operations/ModerationPage.vue';
import OperationsLayout from './pages/operations/OperationsLayout.vue';
import ResetPasswordPage from './pages/ResetPasswordPage.vue';
import ReviewPage from './pages/reviewer/ReviewPage.vue';
import ReviewQueuePage from './pages/reviewer/ReviewQueuePage.vue';
import SignupPage from './pages/SignupPage.vue';
import SubAccountsPage from './pages/SubAccountsPage.vue';
import SandboxCheckoutPage from './pages/sandbox/SandboxCheckoutPage.vue';
import SandboxOnboardingPage from './pages/sandbox/SandboxOnboardingPage.vue';
import VerifyEmailPage from './pages/VerifyEmailPage.vue';
import { installPluginRoutes } from './plugins.ts';
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
  { path: '/cli/login', name: 'cli-login', component: CliLoginPage, meta: { title: 'Sign in the CLI' } },
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
      { path: 'branding', name: 'branding', component: BrandingPage, meta: { title: 'Branding' } },
      {
        path: 'agency',
        name: 'agency-dashboard',
        component: AgencyDashboardPage,
        meta: { title: 'Agency dashboard' },
      },
      {
        path: 'templates',
        name: 'agency-templates',
        component: TemplatesPage,
        meta: { title: 'New sub-account from a template' },
      },
      { path: 'resale', name: 'agency-resale', component: ResalePage, meta: { title: 'App resale' } },
      { path: 'api-keys', name: 'api-keys', component: ApiKeysPage, meta: { title: 'API keys' } },
      { path: 'audit', name: 'audit', component: AuditPage, meta: { title: 'Audit log' } },
      { path: 'contacts', name: 'contacts', component: ContactsPage, meta: { title: 'Contacts' } },
      {
        path: 'install-apps',
        name: 'bulk-install',
        component: BulkInstallPage,
        meta: { title: 'Install apps into sub-accounts' },
      },
      {
        path: 'installed-apps',
        name: 'installed-apps',
        component: InstalledAppsPage,
        meta: { title: 'Installed apps' },
      },
      { path: 'apps', name: 'dev-apps', component: DevAppsPage, meta: { title: 'Apps' } },
      // Dashboards load as chunks of their own, with the chart library: no other page carries it.
      {
        path: 'dashboard',
        name: 'dev-dashboard',
        component: () => import('./pages/dashboards/DeveloperDashboardPage.vue'),
        meta: { title: 'Dashboard' },
      },
      {
        path: 'charts',
        name: 'agency-charts',
        component: () => import('./pages/dashboards/AgencyChartsPage.vue'),
        meta: { title: 'Charts' },
      },
      { path: 'apps/new', name: 'dev-app-new', component: NewAppPage, meta: { title: 'New app' } },
      {
        path: 'test-accounts',
        name: 'dev-test-accounts',
        component: TestAccountsPage,
        meta: { title: 'Test accounts' },
      },
      { path: 'billing', name: 'billing', component: BillingPage, meta: { title: 'Billing' } },
      {
        path: 'payouts-account',
        name: 'payouts-account',
        component: PayoutsAccountPage,
        meta: { title: 'Payouts account' },
      },
      { path: 'earnings', name: 'earnings', component: EarningsPage, meta: { title: 'Earnings' } },
      {
        path: 'apps/:appId',
        component: AppLayout,
        props: (to) => ({ appId: to.params.appId }),
        children: [
          { path: '', name: 'dev-app', component: AppStatusPage, meta: { title: 'App status' } },
          {
            path: 'listing',
            name: 'dev-app-listing',
            component: AppListingPage,
            meta: { title: 'App listing' },
          },
          {
            path: 'version',
            name: 'dev-app-version',
            component: AppVersionPage,
            meta: { title: 'Access and pricing' },
          },
          { path: 'changes', name: 'dev-app-diff', component: AppDiffPage, meta: { title: 'Changes' } },
          {
            path: 'manifest',
            name: 'dev-app-manifest',
            component: AppManifestPage,
            meta: { title: 'Manifest' },
          },
          // Links in notifications and emails name the version: its status is the app's status page.
          {
            path: 'versions/:versionId',
            redirect: (to) => ({
              name: 'dev-app',
              params: { orgId: to.params.orgId, appId: to.params.appId },
            }),
          },
          {
            path: 'credentials',
            name: 'dev-app-credentials',
            component: AppCredentialsPage,
            meta: { title: 'Credentials' },
          },
          {
            path: 'webhooks',
            name: 'dev-app-webhooks',
            component: AppWebhooksPage,
            meta: { title: 'Webhooks' },
          },
          {
            path: 'webhooks/:endpointId',
            name: 'dev-app-webhook',
            component: AppWebhookEndpointPage,
            meta: { title: 'Webhook endpoint' },
          },
        ],
      },
    ],
  },
  {
    path: '/marketplace',
    name: 'marketplace',
    component: MarketplacePage,
    meta: { public: true, title: 'Marketplace' },
  },
  {
    path: '/marketplace/:slug',
    name: 'marketplace-app',
    component: MarketplaceAppPage,
    props: true,
    meta: { public: true, title: 'Marketplace' },
  },
  { path: '/review', name: 'review-queue', component: ReviewQueuePage, meta: { title: 'Review queue' } },
  {
    path: '/review/:versionId',
    name: 'review-version',
    component: ReviewPage,
    props: true,
    meta: { title: 'Review' },
  },
  // Platform admins: review moderation and app suspension.
  {
    path: '/operations',
    component: OperationsLayout,
    children: [
      { path: '', redirect: { name: 'ops-reviews' } },
      {
        path: 'reviews',
        name: 'ops-reviews',
        component: ModerationPage,
        meta: { title: 'Review moderation' },
      },
      { path: 'apps', name: 'ops-apps', component: AppsPage, meta: { title: 'App operations' } },
      { path: 'finance', name: 'ops-finance', component: FinancePage, meta: { title: 'Finance' } },
      {
        path: 'dashboard',
        name: 'ops-dashboard',
        component: () => import('./pages/dashboards/OperatorDashboardPage.vue'),
        meta: { title: 'Platform dashboard' },
      },
    ],
  },
  {
    path: '/notifications',
    name: 'notifications',
    component: NotificationsPage,
    meta: { title: 'Notifications' },
  },
  {
    path: '/invitations/:token',
    name: 'invitation',
    component: InvitationPage,
    props: true,
    meta: { public: true, title: 'Invitation' },
  },
  // A sub-account its agency paused (its routes answer 423): why, and what to pay to resume it.
  {
    path: '/paused/:orgId',
    name: 'paused',
    component: PausedAccountPage,
    props: true,
    meta: { title: 'Account paused' },
  },
  {
    path: '/dev/mailbox',
    name: 'mailbox',
    component: MailboxPage,
    meta: { title: 'Dev mailbox' },
  },
  {
    path: '/verify-email',
    name: 'verify-email',
    component: VerifyEmailPage,
    meta: { public: true, title: 'Verify email' },
  },
  {
    path: '/forgot-password',
    name: 'forgot-password',
    component: ForgotPasswordPage,
    meta: { public: true, title: 'Reset password' },
  },
  {
    path: '/reset-password',
    name: 'reset-password',
    component: ResetPasswordPage,
    meta: { public: true, title: 'Choose a new password' },
  },
  // The sandbox payment provider's hosted pages (Stripe's own pages when Stripe is configured).
  {
    path: '/sandbox/onboarding/:token',
    name: 'sandbox-onboarding',
    component: SandboxOnboardingPage,
    props: true,
    meta: { public: true, title: 'Sandbox onboarding' },
  },
  {
    path: '/sandbox/checkout/:sessionId',
    name: 'sandbox-checkout',
    component: SandboxCheckoutPage,
    props: true,
    meta: { public: true, title: 'Sandbox payment' },
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

// Enabled plugins' pages (and the plugin settings page), after the session is known.
installPluginRoutes(router);

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} · ${brandName.value}` : brandName.value;
});

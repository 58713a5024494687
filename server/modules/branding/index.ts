import { defineModule } from '../module.ts';
import { CHECK_DOMAIN_JOB, type DnsResolver } from './domains.ts';
import { brandingRoutes } from './routes.ts';
import { type BrandingService, createBrandingService } from './service.ts';

export type { DnsResolver } from './domains.ts';
export {
  contrast,
  type Domain,
  DomainSchema,
  type EffectiveTheme,
  EffectiveThemeSchema,
  FONTS,
  ThemeInput,
} from './schemas.ts';
export type { BrandingService } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    branding: BrandingService;
  }
  interface ModuleOptions {
    /** DNS for domain checks (a stub in tests; node:dns/promises otherwise) and the cache re-read interval. */
    branding?: { resolver?: DnsResolver; refreshMs?: number };
  }
}

/**
 * White-label: an agency's versioned brand theme, its custom domains (DNS
 * proof, TLS permission for the proxy) and the resolution of both per host
 * and per account, which the OAuth pages and issuers (`oauth.whiteLabel`) and
 * emails (`mail.brand`) read. Other modules call `effectiveThemeFor(orgId)`.
 */
export default defineModule({
  name: 'branding',
  requires: ['organizations', 'audit', 'oauth', 'mail'],
  tables: [
    'branding_assets',
    'branding_drafts',
    'branding_theme_versions',
    'branding_domains',
    'branding_sending_domains',
  ],
  createService: (deps) => {
    const branding = createBrandingService({
      ...deps,
      resolver: deps.options.branding?.resolver,
      refreshMs: deps.options.branding?.refreshMs,
    });
    branding.domains.useQueue(async (domainId) => {
      await deps.jobs.enqueue(
        CHECK_DOMAIN_JOB,
        { domainId },
        { jobId: `domain-check-${domainId}-${Date.now()}` },
      );
    });
    // The OAuth pages' base theme and the agency hosts that are issuers.
    deps.extensions.add(
      'oauth.whiteLabel',
      {
        theme: async ({ host, accountId }) => {
          const t = await branding.resolve({ host, organizationId: accountId });
          if (!t.branded) return undefined;
          return {
            brandName: t.brandName,
            brandColor: t.colours.primary,
            brandTextColor: t.colours.onPrimary,
            logoUrl: t.logoUrl,
            faviconUrl: t.faviconUrl,
            backgroundColor: t.colours.background,
            textColor: t.colours.text,
            fontFamily: t.fontStack,
            homeUrl: branding.agencyForHost(host) ? '/' : t.supportUrl,
          };
        },
        isIssuerHost: (hostname) => branding.agencyForHost(hostname) !== undefined,
      },
      'branding',
    );
    deps.extensions.add(
      'mail.brand',
      async ({ organizationId, host }) => {
        const t = await branding.resolve({ host, organizationId });
        if (!t.branded) return undefined;
        return {
          brandName: t.brandName,
          baseUrl: t.baseUrl,
          senderName: t.emailSenderName,
          replyTo: t.replyTo,
          footerText: t.footerText,
          primaryColor: t.colours.primary,
          logoUrl: t.logoUrl ? `${t.baseUrl}${t.logoUrl}` : null,
          fromAddress: t.organizationId
            ? ((d) => (d ? `no-reply@${d}` : null))(await branding.sending.verifiedDomainOf(t.organizationId))
            : null,
        };
      },
      'branding',
    );
    deps.extensions.add('mail.signer', (domain) => branding.sending.signerForDomain(domain), 'branding');
    return branding;
  },
  jobs: (branding) => [
    {
      name: CHECK_DOMAIN_JOB,
      attempts: 3,
      handler: async ({ domainId }: { domainId: string }) => void (await branding.domains.check(domainId)),
    },
    // Pending domains on their retry schedule, active ones daily.
    {
      name: 'branding.check_domains',
      everyMs: 60_000,
      handler: async () => void (await branding.domains.checkDue()),
    },
    // Sending domains likewise: a verified one whose records disappear stops being used.
    {
      name: 'branding.check_sending_domains',
      everyMs: 60_000,
      handler: async () => void (await branding.sending.checkDue()),
    },
  ],
  routes: ({ branding }) => brandingRoutes({ branding }),
  start: (branding) => branding.start(),
  stop: (branding) => branding.stop(),
});

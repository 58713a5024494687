import { z } from 'zod';
import { PlazaError } from '../../errors.ts';
import { readRawBody } from '../../http/body.ts';
import { type Access, defineRoute } from '../../http/route.ts';
import { IMAGE_TYPES } from '../apps/index.ts';
import {
  BrandAssetSchema,
  DomainSchema,
  EffectiveThemeSchema,
  Hostname,
  SendingDomainSchema,
  ThemeInput,
  ThemeSchema,
  ThemeState,
} from './schemas.ts';
import { ASSET_LIMITS, type BrandAssetKind, type BrandingService } from './service.ts';

const AGENCY_ADMIN: Access = { kind: 'org', orgKinds: ['agency'], minRole: 'admin' };
const OrgParams = z.object({ orgId: z.string().max(64) });
const DomainParams = OrgParams.extend({ domainId: z.string().max(64) });
const SendingParams = OrgParams.extend({ sendingDomainId: z.string().max(64) });

function uploadRoute(branding: BrandingService, kind: BrandAssetKind) {
  const rawBody = { contentTypes: [...IMAGE_TYPES], maxBytes: ASSET_LIMITS[kind].maxBytes };
  return defineRoute({
    method: 'post',
    path: `/v1/organizations/:orgId/branding/${kind}`,
    summary: kind === 'logo' ? 'Upload a brand logo' : 'Upload a favicon (square)',
    tag: 'Branding',
    access: AGENCY_ADMIN,
    params: OrgParams,
    rawBody,
    status: 201,
    response: BrandAssetSchema,
    handler: async ({ org, ctx }) => branding.uploadAsset(org, kind, await readRawBody(ctx, rawBody)),
  });
}

export function brandingRoutes({ branding }: { branding: BrandingService }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/branding/theme',
      summary: "The agency's theme: the draft and the published version",
      tag: 'Branding',
      access: AGENCY_ADMIN,
      params: OrgParams,
      response: ThemeState,
      handler: ({ org }) => branding.state(org),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/organizations/:orgId/branding/theme',
      summary: 'Save the theme draft (colours checked against WCAG AA)',
      tag: 'Branding',
      access: AGENCY_ADMIN,
      params: OrgParams,
      body: ThemeInput,
      response: ThemeSchema,
      handler: ({ org, body }) => branding.saveDraft(org, body),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/branding/theme/publish',
      summary: 'Publish the draft as the next theme version',
      tag: 'Branding',
      access: AGENCY_ADMIN,
      params: OrgParams,
      response: ThemeSchema.extend({ version: z.number().int(), publishedAt: z.string() }),
      handler: ({ org }) => branding.publish(org),
    }),
    uploadRoute(branding, 'logo'),
    uploadRoute(branding, 'favicon'),
    defineRoute({
      method: 'get',
      path: '/v1/branding/assets/:brandAssetId',
      summary: 'Get a brand logo or favicon',
      tag: 'Branding',
      access: { kind: 'public' },
      params: z.object({ brandAssetId: z.string().max(64) }),
      handler: async ({ params, ctx }) => {
        const asset = /^bast_[0-9a-z]{26}$/.test(params.brandAssetId)
          ? await branding.readAsset(params.brandAssetId)
          : undefined;
        if (!asset) throw new PlazaError('PLAZA_NOT_FOUND', 'asset not found');
        // Published versions name assets that never change: cached for good.
        ctx.set('Content-Type', asset.contentType);
        ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
        ctx.set('Content-Security-Policy', "default-src 'none'; sandbox");
        ctx.set('Content-Disposition', 'inline');
        ctx.body = asset.bytes;
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/branding/current',
      // The web app's shell asks once per page load: the brand of the host it was opened on.
      summary: 'The brand of this host (an agency’s active domain, or the platform)',
      tag: 'Branding',
      access: { kind: 'public' },
      response: EffectiveThemeSchema,
      handler: async ({ ctx }) => {
        ctx.set('Cache-Control', 'no-cache');
        return branding.themeForHost(ctx.host);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/branding/effective',
      summary: 'The brand an organization shows (a sub-account shows its agency’s)',
      tag: 'Branding',
      access: { kind: 'org' },
      params: OrgParams,
      response: EffectiveThemeSchema,
      handler: async ({ org, ctx }) => branding.resolve({ host: ctx.host, organizationId: org.org.id }),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/domains',
      summary: "List the agency's custom domains",
      tag: 'Branding',
      access: AGENCY_ADMIN,
      params: OrgParams,
      response: z.object({ data: z.array(DomainSchema) }),
      handler: async ({ org }) => ({ data: await branding.domains.list(org) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/domains',
      summary: 'Add a custom domain (answers the DNS records to create)',
      tag: 'Branding',
      access: AGENCY_ADMIN,
      params: OrgParams,
      body: z.object({ hostname: Hostname }),
      status: 201,
      response: DomainSchema,
      handler: ({ org, body }) => branding.domains.add(org, body.hostname),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/domains/:domainId',
      summary: 'A custom domain with its last check and the next one',
      tag: 'Branding',
      access: AGENCY_ADMIN,
      params: DomainParams,
      response: DomainSchema,
      handler: ({ org, params }) => branding.domains.get(org, params.domainId),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/domains/:domainId/verify',
      summary: 'Check the DNS records now',
      tag: 'Branding',
      access: AGENCY_ADMIN,
      params: DomainParams,
      response: DomainSchema,
      handler: ({ org, params }) => branding.domains.verifyNow(org, params.domainId),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/organizations/:orgId/domains/:domainId',
      summary: 'Remove a custom domain (it stops being served at once)',
      tag: 'Branding',
      access: AGENCY_ADMIN,
      params: DomainParams,
      response: DomainSchema,
      handler: ({ org, params }) => branding.domains.remove(org, params.domainId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/sending-domain',
      summary: "The agency's sending domain (SPF, DKIM and DMARC records), or null",
      tag: 'Branding',
      access: AGENCY_ADMIN,
      params: OrgParams,
      response: z.object({ sendingDomain: SendingDomainSchema.nullable() }),
      handler: async ({ org }) => ({ sendingDomain: await branding.sending.get(org) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/sending-domain',
      summary: 'Set the sending domain (replaces the previous one); answers the records to create',
      tag: 'Branding',
      access: AGENCY_ADMIN,
      params: OrgParams,
      body: z.object({ domain: Hostname }),
      status: 201,
      response: SendingDomainSchema,
      handler: ({ org, body }) => branding.sending.add(org, body.domain),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/sending-domain/:sendingDomainId/verify',
      summary: 'Check the SPF, DKIM and DMARC records now',
      tag: 'Branding',
      access: AGENCY_ADMIN,
      params: SendingParams,
      response: SendingDomainSchema,
      handler: ({ org, params }) => branding.sending.verify(org, params.sendingDomainId),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/organizations/:orgId/sending-domain/:sendingDomainId',
      summary: 'Stop sending from this domain (back to the platform address)',
      tag: 'Branding',
      access: AGENCY_ADMIN,
      params: SendingParams,
      response: SendingDomainSchema,
      handler: ({ org, params }) => branding.sending.remove(org, params.sendingDomainId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/tls/allowed',
      // The reverse proxy's on-demand TLS permission check (Caddy `permission http`): a certificate
      // only for active domains, so nobody can make the proxy burn the CA's rate limits.
      summary: 'May the proxy get a certificate for this domain? 200 yes, 403 no',
      tag: 'Branding',
      access: { kind: 'public' },
      unlimited: true,
      query: z.object({ domain: z.string().max(253) }),
      response: z.object({ domain: z.string(), allowed: z.literal(true) }),
      handler: async ({ query }) => {
        if (!(await branding.domains.tlsAllowed(query.domain)))
          throw new PlazaError('PLAZA_FORBIDDEN', `${query.domain} is not an active domain here`);
        return { domain: query.domain, allowed: true as const };
      },
    }),
  ];
}

/**
 * White-label in the web app: the brand of the host the app was opened on
 * (`/v1/branding/current`: an agency's verified domain shows its theme), and
 * on any other host the brand of the organization being worked in (a
 * sub-account shows its agency's published theme, every other organization
 * the platform's), applied to the shell as CSS custom properties, the title
 * and the favicon. Values are set through the CSSOM one property at
 * a time and checked again here, so a theme can never add CSS or markup.
 * Also the client of the Branding page (theme, logo, favicon, domains).
 */
import { computed, reactive, watch } from 'vue';
import { request, seg } from './api.ts';
import type { components, RequestBodyOf, ResponseOf } from './generated/openapi.ts';
import { currentOrg } from './session.ts';

export type EffectiveTheme = components['schemas']['EffectiveTheme'];
export type ThemeState = ResponseOf<'/v1/organizations/{orgId}/branding/theme', 'get'>;
export type ThemeInput = RequestBodyOf<'/v1/organizations/{orgId}/branding/theme', 'put'>;
export type BrandAsset = components['schemas']['BrandAsset'];
export type CustomDomain = components['schemas']['CustomDomain'];
export type SendingDomain = components['schemas']['SendingDomain'];

export const FONT_LABELS: Record<EffectiveTheme['font'], string> = {
  system: 'System (default)',
  humanist: 'Humanist sans',
  serif: 'Serif',
  rounded: 'Rounded',
  mono: 'Monospace',
};
/** The same stacks the server names (font names only). */
export const FONT_STACKS: Record<EffectiveTheme['font'], string> = {
  system: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  humanist: '"Segoe UI", "Noto Sans", "Helvetica Neue", Arial, sans-serif',
  serif: 'Georgia, "Times New Roman", serif',
  rounded: '"Nunito", "Varela Round", system-ui, sans-serif',
  mono: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace',
};

export const brand = reactive<{ theme: EffectiveTheme | null }>({ theme: null });
/** The name the shell shows: the agency's on its domain, the platform's elsewhere. */
export const brandName = computed(() => brand.theme?.brandName ?? 'Plaza');

const HEX = /^#[0-9a-f]{6}$/i;
const SAME_ORIGIN_PATH = /^\/v1\/branding\/assets\/[a-z0-9_]+$/;

/** Applies a theme to the document (or clears back to the stylesheet's colours). */
export function applyBrand(theme: EffectiveTheme | null): void {
  const root = document.documentElement.style;
  const set = (prop: string, value: string | undefined) =>
    value && HEX.test(value) ? root.setProperty(prop, value) : root.removeProperty(prop);
  const c = theme?.branded ? theme.colours : undefined;
  set('--accent', c?.primary);
  set('--accent-strong', c?.primary);
  set('--brand-accent', c?.accent);
  set('--bg', c?.background);
  set('--text', c?.text);
  set('--on-accent', c?.onPrimary);
  if (theme?.branded && FONT_STACKS[theme.font]) root.setProperty('--brand-font', FONT_STACKS[theme.font]);
  else root.removeProperty('--brand-font');
  const icon = document.querySelector<HTMLLinkElement>('link[rel="icon"]');
  if (icon) {
    // The built-in icon, remembered so switching back to an unbranded organization restores it.
    icon.dataset.platformHref ??= icon.getAttribute('href') ?? '';
    const href =
      theme?.branded && theme.faviconUrl && SAME_ORIGIN_PATH.test(theme.faviconUrl)
        ? theme.faviconUrl
        : icon.dataset.platformHref;
    if (href) icon.setAttribute('href', href);
  }
}

let hostTheme: EffectiveTheme | null = null;
const orgThemes = new Map<string, EffectiveTheme>();

/** Shows `theme`: the variables, the favicon and the name in the page title. */
function show(theme: EffectiveTheme | null): void {
  const before = brandName.value;
  brand.theme = theme;
  applyBrand(theme);
  // The router titled the page with the name shown until now ("Members · Plaza").
  const suffix = ` · ${before}`;
  const title = document.title;
  if (title === before) document.title = brandName.value;
  else if (title.endsWith(suffix)) document.title = title.slice(0, -suffix.length) + ` · ${brandName.value}`;
}

/** The sub-accounts of agencies: the only organizations whose brand is not the platform's. */
const brandedOrgId = () => {
  const o = currentOrg.value;
  return o && o.kind === 'account' && o.parentId ? o.id : null;
};

/**
 * On the platform's host, the current organization's brand: a sub-account's
 * agency theme (the server checks membership and resolves it), else the
 * platform's. On an agency's domain the host's brand always wins.
 */
async function followOrg(): Promise<void> {
  if (hostTheme?.branded) return;
  const orgId = brandedOrgId();
  if (!orgId) return show(hostTheme);
  let theme = orgThemes.get(orgId);
  if (!theme) {
    try {
      theme = await request<EffectiveTheme>('GET', `/v1/organizations/${seg(orgId)}/branding/effective`);
      orgThemes.set(orgId, theme);
    } catch {
      theme = undefined;
    }
  }
  // The user may have switched again while this was loading: only the latest choice is shown.
  if (brandedOrgId() === orgId) show(theme?.branded ? theme : hostTheme);
}

export async function loadBrand(): Promise<void> {
  try {
    hostTheme = await request<EffectiveTheme>('GET', '/v1/branding/current');
  } catch {
    hostTheme = null; // the platform's look, as built
  }
  show(hostTheme);
  watch(
    () => [brandedOrgId(), currentOrg.value?.id],
    () => void followOrg(),
    { immediate: true },
  );
}

const base = (orgId: string) => `/v1/organizations/${seg(orgId)}`;

export const brandingApi = {
  theme: (orgId: string) => request<ThemeState>('GET', `${base(orgId)}/branding/theme`),
  saveTheme: (orgId: string, input: ThemeInput) =>
    request<ThemeState['draft']>('PUT', `${base(orgId)}/branding/theme`, input),
  publish: (orgId: string) =>
    request<NonNullable<ThemeState['published']>>('POST', `${base(orgId)}/branding/theme/publish`),
  upload: (orgId: string, kind: 'logo' | 'favicon', file: Blob) =>
    request<BrandAsset>('POST', `${base(orgId)}/branding/${kind}`, {
      raw: file,
      contentType: file.type || 'application/octet-stream',
    }),
  domains: async (orgId: string) =>
    (await request<{ data: CustomDomain[] }>('GET', `${base(orgId)}/domains`)).data,
  addDomain: (orgId: string, hostname: string) =>
    request<CustomDomain>('POST', `${base(orgId)}/domains`, { hostname }),
  verifyDomain: (orgId: string, id: string) =>
    request<CustomDomain>('POST', `${base(orgId)}/domains/${seg(id)}/verify`),
  removeDomain: (orgId: string, id: string) =>
    request<CustomDomain>('DELETE', `${base(orgId)}/domains/${seg(id)}`),
  sendingDomain: async (orgId: string) =>
    (await request<{ sendingDomain: SendingDomain | null }>('GET', `${base(orgId)}/sending-domain`))
      .sendingDomain,
  setSendingDomain: (orgId: string, domain: string) =>
    request<SendingDomain>('POST', `${base(orgId)}/sending-domain`, { domain }),
  verifySendingDomain: (orgId: string, id: string) =>
    request<SendingDomain>('POST', `${base(orgId)}/sending-domain/${seg(id)}/verify`),
  removeSendingDomain: (orgId: string, id: string) =>
    request<SendingDomain>('DELETE', `${base(orgId)}/sending-domain/${seg(id)}`),
};

/** WCAG contrast ratio of two hex colours (the live preview warns before the server refuses). */
export function contrast(a: string, b: string): number {
  const lum = (hex: string) => {
    const n = Number.parseInt(hex.slice(1), 16);
    const [r, g, bl] = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  if (!HEX.test(a) || !HEX.test(b)) return 0;
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}
export const onColour = (bg: string) =>
  contrast(bg, '#ffffff') >= contrast(bg, '#000000') ? '#ffffff' : '#000000';

/**
 * Image URLs in API answers are absolute (the platform's public URL). Ours
 * (`/v1/assets/...`) load as same-origin paths instead, so a page on an
 * agency's domain never names the platform's host.
 */
export function sameServer(url: string): string;
export function sameServer(url: string | null | undefined): string | null;
export function sameServer(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url, window.location.href);
    return u.pathname.startsWith('/v1/assets/') && !u.search ? u.pathname : url;
  } catch {
    return url;
  }
}

import { createRequire } from 'node:module';
import type MarkdownItType from 'markdown-it';

/**
 * Listing descriptions are Markdown written by developers and shown to
 * everyone, so raw HTML is never rendered (it comes out as text), links and
 * images may only point at http(s) (and mailto: for links), and every link
 * opens without handing the marketplace page to the target.
 */
const LINK_PROTOCOLS = /^(https?:|mailto:)/i;
const IMAGE_PROTOCOLS = /^https?:/i;

// markdown-it (with its entity tables) loads on the first render, not with the server: a restart
// renders nothing, and the load was ~50-130 ms of every start's main thread. require() keeps
// renderMarkdown synchronous.
const require = createRequire(import.meta.url);
let parser: InstanceType<typeof MarkdownItType> | undefined;

function markdownIt(): InstanceType<typeof MarkdownItType> {
  if (parser) return parser;
  const MarkdownIt = require('markdown-it') as typeof MarkdownItType;
  const md = new MarkdownIt({ html: false, linkify: true, typographer: false });

  md.validateLink = (url: string) => {
    const u = url.trim();
    // Relative and in-page links have no scheme; anything with a scheme must be one we allow.
    if (!/^[a-z][a-z0-9+.-]*:/i.test(u)) return !u.startsWith('//');
    return LINK_PROTOCOLS.test(u);
  };

  const defaultImage = md.renderer.rules.image!;
  md.renderer.rules.image = (tokens, idx, options, env, self) => {
    const src = String(tokens[idx].attrGet('src') ?? '');
    // Only absolute http(s) images; anything else shows its alt text.
    if (!IMAGE_PROTOCOLS.test(src)) return md.utils.escapeHtml(tokens[idx].content);
    tokens[idx].attrSet('loading', 'lazy');
    tokens[idx].attrSet('referrerpolicy', 'no-referrer');
    return defaultImage(tokens, idx, options, env, self);
  };

  const defaultLinkOpen =
    md.renderer.rules.link_open ??
    ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    tokens[idx].attrSet('rel', 'nofollow ugc noopener noreferrer');
    tokens[idx].attrSet('target', '_blank');
    return defaultLinkOpen(tokens, idx, options, env, self);
  };
  parser = md;
  return md;
}

/** Markdown source → safe HTML (for the marketplace page and the developer's preview). */
export function renderMarkdown(source: string): string {
  return markdownIt().render(source ?? '');
}

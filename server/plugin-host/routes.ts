import type { AnyRoute } from '../http/route.ts';

/**
 * Puts a plugin route under `/v1/<plugin>`. The plugin writes the rest of the
 * path, so it can never answer on a core path or another plugin's. Throws a
 * plain sentence; the host adds the plugin's name.
 */
export function prefixRoute(plugin: string, route: AnyRoute): AnyRoute {
  const rel = route.path;
  if (typeof rel !== 'string' || !rel.startsWith('/'))
    throw new Error(`route path must start with "/" (got ${JSON.stringify(rel)})`);
  if (rel === '/v1' || rel.startsWith('/v1/'))
    throw new Error(
      `route path "${rel}" must be relative to the plugin prefix: the host mounts it under /v1/${plugin}`,
    );
  // The router resolves an org route's tenant from `:orgId`; without it membership cannot be checked.
  if (route.access?.kind === 'org' && !/(^|\/):orgId(\/|$)/.test(rel))
    throw new Error(`route ${route.method.toUpperCase()} ${rel} has org access but no :orgId path segment`);
  return { ...route, path: `/v1/${plugin}${rel === '/' ? '' : rel}` };
}

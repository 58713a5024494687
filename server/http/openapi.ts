import { z } from 'zod';
import { ErrorCodes, pluginErrorCodes } from '../errors.ts';
import type { AnyRoute } from './route.ts';

type Json = Record<string, any>;

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate
 * requests. Schemas with `.meta({ id })` become shared components.
 */
export function buildOpenApi(
  routes: AnyRoute[],
  info: {
    version: string;
    serverUrl: string;
    /** The scope catalog: the `oauth2` security scheme lists every scope with its consent text. */
    scopes?: Array<{ name: string; consentText: string }>;
  },
): Json {
  const components: Record<string, Json> = {};

  const toSchema = (schema: z.ZodType, io: 'input' | 'output'): Json => {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any', io }) as Json;
    for (const [id, def] of Object.entries((json.$defs ?? {}) as Record<string, Json>))
      components[id] = rewriteRefs(def);
    delete json.$defs;
    delete json.$schema;
    return rewriteRefs(json);
  };

  components.Problem = {
    type: 'object',
    description: 'An RFC 9457 problem document.',
    required: ['type', 'title', 'status', 'code'],
    properties: {
      type: { type: 'string', format: 'uri' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string' },
      code: { type: 'string', enum: [...Object.keys(ErrorCodes), ...pluginErrorCodes()] },
      instance: { type: 'string' },
      requestId: { type: 'string' },
      fields: {
        type: 'array',
        items: {
          type: 'object',
          required: ['field', 'reason'],
          properties: { field: { type: 'string' }, reason: { type: 'string' } },
        },
      },
    },
  };

  const oauthBase = `${info.serverUrl.replace(/\/+$/, '')}/oauth`;
  const scopes = Object.fromEntries((info.scopes ?? []).map((sc) => [sc.name, sc.consentText]));

  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const parameters: Json[] = [];
    for (const [where, schema] of [
      ['path', route.params],
      ['query', route.query],
    ] as const) {
      if (!schema) continue;
      const obj = toSchema(schema, 'input');
      for (const [name, prop] of Object.entries((obj.properties ?? {}) as Record<string, Json>)) {
        parameters.push({
          name,
          in: where,
          required: where === 'path' || (obj.required ?? []).includes(name),
          schema: prop,
          ...(prop.description ? { description: prop.description } : {}),
        });
      }
    }
    if (route.idempotent)
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description:
          'Makes a retry safe: the first successful answer for this key (yours, per caller) is kept 24 hours and returned again, with `Idempotent-Replayed: true`, for the same request; the same key with another body is 409 PLAZA_IDEMPOTENCY_KEY_REUSED. Errors are not kept: a retry after one runs again. Send a new random key (a UUID) for each new request.',
        schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
      });
    const status = String(route.status ?? (route.response ? 200 : 204));
    const responses: Json = {
      [status]: route.response
        ? {
            description: 'Success',
            ...(route.idempotent
              ? {
                  headers: {
                    'Idempotent-Replayed': {
                      description:
                        'true when this is the kept answer of an earlier request with the same Idempotency-Key',
                      schema: { type: 'string', enum: ['true'] },
                    },
                  },
                }
              : {}),
            content: { 'application/json': { schema: toSchema(route.response, 'output') } },
          }
        : { description: 'Success, no content' },
      default: {
        description: 'An error',
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      },
    };
    const access = route.access;
    const security =
      access.kind === 'public'
        ? []
        : access.kind === 'app'
          ? [{ oauth2: access.scope ? [access.scope] : [] }]
          : access.kind === 'app_client'
            ? [{ oauth2: [] }]
            : route.apiKeys === false
              ? [{ session: [] }]
              : [{ session: [] }, { apiKey: [] }];
    paths[path] ??= {};
    paths[path][route.method] = {
      operationId: operationId(route),
      summary: route.summary,
      ...(access.kind === 'app'
        ? {
            description: access.scope
              ? `For apps, with an installation's access token carrying the scope \`${access.scope}\`.`
              : "For apps, with an installation's access token.",
          }
        : access.kind === 'app_client'
          ? { description: 'For apps acting for themselves, with a client-credentials access token.' }
          : {}),
      tags: [route.tag],
      ...(parameters.length ? { parameters } : {}),
      ...(route.rawBody
        ? {
            requestBody: {
              required: true,
              description: `Raw bytes, at most ${route.rawBody.maxBytes} bytes`,
              content: Object.fromEntries(
                route.rawBody.contentTypes.map((t) => [t, { schema: { type: 'string', format: 'binary' } }]),
              ),
            },
          }
        : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: toSchema(route.body, 'input') } },
            },
          }
        : {}),
      responses,
      security,
      'x-plaza-access': route.access,
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Plaza API',
      version: info.version,
      description:
        'The Plaza marketplace API. Errors are application/problem+json with a stable `code`. Lists are cursor-paginated (`limit`, `cursor`, `nextCursor`).',
    },
    servers: [{ url: info.serverUrl }],
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'plaza_session',
          description: 'Web session; state-changing requests also need the x-csrf-token header.',
        },
        apiKey: { type: 'http', scheme: 'bearer', description: 'A personal API key (plz_key_...).' },
        oauth2: {
          type: 'oauth2',
          description:
            "Apps: an access token (JWT) from Plaza's OAuth server, sent as `Authorization: Bearer <token>`. An installation's token (authorization code with PKCE) acts in one account with the scopes it was granted; a client-credentials token acts for the app itself and reaches no account data.",
          flows: {
            authorizationCode: {
              authorizationUrl: `${oauthBase}/auth`,
              tokenUrl: `${oauthBase}/token`,
              refreshUrl: `${oauthBase}/token`,
              scopes,
            },
            clientCredentials: { tokenUrl: `${oauthBase}/token`, scopes: {} },
          },
        },
      },
    },
  };
}

function rewriteRefs(node: any): any {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node && typeof node === 'object') {
    const out: Json = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] =
        k === '$ref' && typeof v === 'string'
          ? v.replace('#/$defs/', '#/components/schemas/')
          : rewriteRefs(v);
    }
    return out;
  }
  return node;
}

function operationId(route: AnyRoute): string {
  const words = route.summary
    .replace(/[^A-Za-z0-9 ]/g, ' ')
    .trim()
    .split(/\s+/);
  return words
    .map((w, i) => (i === 0 ? w.toLowerCase() : w[0].toUpperCase() + w.slice(1).toLowerCase()))
    .join('');
}

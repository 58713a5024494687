import { describe, expect, it } from 'vitest';
import {
  generateTypes,
  isCompound,
  type OpenApiDocument,
  schemaToType,
} from '../../sdk/codegen/openapi-to-ts.ts';
import { typecheck } from './typecheck.ts';

/** The type text with whitespace runs collapsed, for one-line comparisons. */
const flat = (schema: unknown) =>
  schemaToType(schema as any)
    .replace(/\s+/g, ' ')
    .replace(/\{ \/\*\*.*?\*\/ /g, '{ ');

describe('schemaToType', () => {
  it('maps primitive types, formats and type arrays', () => {
    expect(flat({ type: 'string' })).toBe('string');
    expect(flat({ type: 'string', format: 'date-time', pattern: '^x$' })).toBe('string');
    expect(flat({ type: 'string', format: 'binary' })).toBe('string');
    expect(flat({ type: 'integer', minimum: 0 })).toBe('number');
    expect(flat({ type: 'number' })).toBe('number');
    expect(flat({ type: 'boolean' })).toBe('boolean');
    expect(flat({ type: 'null' })).toBe('null');
    expect(flat({ type: ['string', 'null'] })).toBe('string | null');
    expect(flat({ type: ['number', 'null'] })).toBe('number | null');
    expect(flat({ type: ['integer', 'number'] })).toBe('number');
    expect(flat({ type: 'string', nullable: true })).toBe('string | null');
  });

  it('maps enums and consts to literal unions, escaping quotes', () => {
    expect(flat({ type: 'string', enum: ['owner', 'admin'] })).toBe("'owner' | 'admin'");
    expect(flat({ enum: ['a', 1, true, null] })).toBe("'a' | 1 | true | null");
    expect(flat({ type: 'string', const: 'user' })).toBe("'user'");
    expect(flat({ const: "it's \\ fine" })).toBe("'it\\'s \\\\ fine'");
    expect(flat({ const: { a: [1, 'x'] } })).toBe("{ a: [1, 'x']; }");
  });

  it('is unknown for schemas that say nothing, never for false', () => {
    expect(flat({})).toBe('unknown');
    expect(flat({ description: 'anything' })).toBe('unknown');
    expect(flat(true)).toBe('unknown');
    expect(flat(undefined)).toBe('unknown');
    expect(flat(false)).toBe('never');
    expect(flat({ not: { type: 'string' } })).toBe('unknown');
    expect(flat({ anyOf: [{ type: 'string' }, {}] })).toBe('unknown');
  });

  it('maps objects with required and optional properties, quoting keys that are not identifiers', () => {
    const t = schemaToType({
      type: 'object',
      properties: {
        id: { type: 'string', description: 'The id' },
        'x-kind': { type: 'string' },
        count: { type: 'integer', default: 20 },
      },
      required: ['id', 'x-kind'],
      additionalProperties: false,
    });
    expect(t).toBe(
      [
        '{',
        '  /** The id */',
        '  id: string;',
        "  'x-kind': string;",
        '  /** @default 20 */',
        '  count?: number;',
        '}',
      ].join('\n'),
    );
    expect(flat({ type: 'object', properties: {} })).toBe('Record<string, unknown>');
    expect(flat({ type: 'object', additionalProperties: false })).toBe('Record<string, never>');
    // Object keywords without `type` still make an object.
    expect(flat({ properties: { a: { type: 'string' } }, required: ['a'] })).toBe('{ a: string; }');
  });

  it('maps additionalProperties and propertyNames to records', () => {
    expect(
      flat({ type: 'object', propertyNames: { type: 'string' }, additionalProperties: { type: 'boolean' } }),
    ).toBe('{ [key: string]: boolean; }');
    expect(flat({ type: 'object', additionalProperties: {} })).toBe('{ [key: string]: unknown; }');
    expect(flat({ type: 'object', additionalProperties: true })).toBe('{ [key: string]: unknown; }');
    expect(
      flat({ type: 'object', propertyNames: { enum: ['a', 'b'] }, additionalProperties: { type: 'number' } }),
    ).toBe("{ [K in 'a' | 'b']?: number }");
    // Declared properties and extra keys: the index signature admits both.
    expect(
      flat({
        type: 'object',
        properties: { name: { type: 'string' } },
        required: ['name'],
        additionalProperties: { type: 'number' },
      }),
    ).toBe('{ name: string; [key: string]: number | string; }');
  });

  it('maps arrays and tuples, parenthesising unions', () => {
    expect(flat({ type: 'array', items: { type: 'string' } })).toBe('string[]');
    expect(flat({ type: 'array', items: { type: ['string', 'null'] } })).toBe('(string | null)[]');
    expect(flat({ type: 'array' })).toBe('unknown[]');
    expect(flat({ items: { type: 'integer' } })).toBe('number[]');
    expect(flat({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false })).toBe(
      '[string, number]',
    );
    expect(flat({ type: 'array', prefixItems: [{ type: 'string' }], items: { type: 'boolean' } })).toBe(
      '[string, ...boolean[]]',
    );
    expect(flat({ type: 'array', items: { type: 'array', items: { enum: ['a', 'b'] } } })).toBe(
      "('a' | 'b')[][]",
    );
  });

  it('maps $ref to components, and refuses references it cannot resolve', () => {
    expect(flat({ $ref: '#/components/schemas/Contact' })).toBe("components['schemas']['Contact']");
    expect(flat({ $ref: '#/components/schemas/a~1b', description: 'ignored beside $ref' })).toBe(
      "components['schemas']['a/b']",
    );
    expect(flat({ type: 'array', items: { $ref: '#/components/schemas/X' } })).toBe(
      "components['schemas']['X'][]",
    );
    expect(() => schemaToType({ $ref: 'https://example.com/schema.json' })).toThrow(/cannot resolve \$ref/);
    expect(() => schemaToType({ $ref: '#/$defs/X' })).toThrow(/cannot resolve \$ref/);
  });

  it('maps oneOf/anyOf to unions and allOf to intersections', () => {
    expect(flat({ anyOf: [{ type: 'string', maxLength: 3 }, { type: 'null' }] })).toBe('string | null');
    expect(flat({ oneOf: [{ type: 'string' }, { type: 'string' }] })).toBe('string');
    expect(
      flat({
        oneOf: [
          { type: 'object', properties: { type: { const: 'a' } }, required: ['type'] },
          {
            type: 'object',
            properties: { type: { const: 'b' }, n: { type: 'number' } },
            required: ['type', 'n'],
          },
        ],
      }),
    ).toBe("{ type: 'a'; } | { type: 'b'; n: number; }");
    expect(flat({ allOf: [{ $ref: '#/components/schemas/A' }, { $ref: '#/components/schemas/B' }] })).toBe(
      "components['schemas']['A'] & components['schemas']['B']",
    );
    expect(flat({ allOf: [{ anyOf: [{ type: 'string' }, { type: 'number' }] }, { type: 'string' }] })).toBe(
      '(string | number) & string',
    );
    // A base type with branches: both hold.
    expect(
      flat({ type: 'object', properties: { a: { type: 'string' } }, oneOf: [{ required: ['a'] }] }),
    ).toBe('{ a?: string; } & Record<string, unknown>');
  });

  it('tags $ref branches with an OpenAPI discriminator', () => {
    expect(
      flat({
        oneOf: [{ $ref: '#/components/schemas/Cat' }, { $ref: '#/components/schemas/Dog' }],
        discriminator: { propertyName: 'kind', mapping: { cat: '#/components/schemas/Cat' } },
      }),
    ).toBe(
      "(components['schemas']['Cat'] & { kind: 'cat' }) | (components['schemas']['Dog'] & { kind: 'Dog' })",
    );
  });

  it('knows when a type needs parentheses', () => {
    expect(isCompound('a | b')).toBe(true);
    expect(isCompound('a & b')).toBe(true);
    expect(isCompound('{ a: b | c; }')).toBe(false);
    expect(isCompound("'a | b'")).toBe(false);
    expect(isCompound("'it\\'s | x'")).toBe(false);
    expect(isCompound('Record<string, a | b>')).toBe(false);
  });
});

/** A document using every construct the generator supports. */
const SAMPLE: OpenApiDocument = {
  openapi: '3.1.0',
  paths: {
    '/v1/pets/{petId}': {
      parameters: [{ name: 'petId', in: 'path', required: true, schema: { type: 'string' } }],
      get: {
        operationId: 'getPet',
        summary: 'Get a pet',
        parameters: [
          { name: 'expand', in: 'query', schema: { type: 'boolean' } },
          { $ref: '#/components/parameters/Trace' },
        ],
        responses: {
          '200': {
            description: 'OK',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Pet' } } },
          },
          default: {
            description: 'Error',
            content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
          },
        },
      },
      delete: {
        operationId: 'deletePet',
        summary: 'Delete */ a pet',
        responses: { '204': { description: 'Gone' } },
      },
    },
    '/v1/pets': {
      post: {
        summary: 'Create a pet',
        parameters: [{ name: 'dryRun', in: 'query', required: true, schema: { type: 'boolean' } }],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/PetCreate' } } },
        },
        responses: {
          '201': {
            description: 'Created',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Pet' } } },
          },
        },
      },
      get: {
        operationId: 'listPets',
        'x-internal': true,
        summary: 'List pets',
        responses: {
          '200': {
            description: 'OK',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    data: { type: 'array', items: { $ref: '#/components/schemas/Pet' } },
                    nextCursor: { type: ['string', 'null'] },
                  },
                  required: ['data', 'nextCursor'],
                },
              },
            },
          },
        },
      },
    },
  },
  components: {
    parameters: { Trace: { name: 'x-trace', in: 'header', schema: { type: 'string' } } },
    schemas: {
      Problem: {
        type: 'object',
        properties: { code: { type: 'string', enum: ['NOT_FOUND', 'GONE'] } },
        required: ['code'],
      },
      Pet: {
        oneOf: [{ $ref: '#/components/schemas/Cat' }, { $ref: '#/components/schemas/Dog' }],
        discriminator: {
          propertyName: 'kind',
          mapping: { cat: '#/components/schemas/Cat', dog: '#/components/schemas/Dog' },
        },
      },
      Cat: {
        type: 'object',
        properties: {
          kind: { type: 'string' },
          name: { type: 'string' },
          lives: { type: 'integer' },
          owner: { $ref: '#/components/schemas/Owner' },
        },
        required: ['kind', 'name', 'lives'],
        additionalProperties: false,
      },
      Dog: {
        type: 'object',
        properties: {
          kind: { type: 'string' },
          name: { type: 'string' },
          tags: {
            type: 'object',
            propertyNames: { type: 'string' },
            additionalProperties: { anyOf: [{ type: 'string' }, { type: 'number' }] },
          },
          walks: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }], items: false },
        },
        required: ['kind', 'name'],
      },
      Owner: {
        type: 'object',
        properties: {
          name: { type: ['string', 'null'] },
          pets: { type: 'array', items: { $ref: '#/components/schemas/Pet' } },
        },
        required: ['name'],
      },
      PetCreate: {
        allOf: [
          { $ref: '#/components/schemas/Dog' },
          { type: 'object', properties: { note: { type: 'string' } } },
        ],
      },
      Unused: { type: 'string' },
    },
    securitySchemes: {
      oauth2: {
        type: 'oauth2',
        flows: {
          authorizationCode: { scopes: { 'pets:write': 'Change pets', 'pets:read': 'See pets' } },
          clientCredentials: { scopes: {} },
        },
      },
    },
  },
};

describe('generateTypes', () => {
  it('emits paths, operations, components, scopes and schema aliases that compile and mean what the document says', () => {
    const text = generateTypes(SAMPLE);
    expect(text).toContain("export type Scope = 'pets:read' | 'pets:write';");
    expect(text).toContain("export type Pet = components['schemas']['Pet'];");
    const diagnostics = typecheck({
      'types.ts': text,
      'use.ts': `
import type { components, operations, paths, Pet, Scope } from './types.ts';
type Get = paths['/v1/pets/{petId}']['get'];
const params: Get['parameters']['path'] = { petId: 'p1' };
const query: NonNullable<Get['parameters']['query']> = { expand: true };
const header: NonNullable<Get['parameters']['header']> = { 'x-trace': 't' };
const cat: Pet = { kind: 'cat', name: 'Tom', lives: 9 };
const dog: Pet = { kind: 'dog', name: 'Rex', tags: { a: 'x', b: 2 }, walks: ['park', 3] };
// @ts-expect-error a cat is tagged cat
const wrongTag: Pet = { kind: 'dog', name: 'Tom', lives: 9 };
// @ts-expect-error lives is required for a cat
const noLives: components['schemas']['Cat'] = { kind: 'cat', name: 'Tom' };
// @ts-expect-error no extra keys on a closed object
const extra: components['schemas']['Cat'] = { kind: 'cat', name: 'Tom', lives: 1, color: 'red' };
// @ts-expect-error tuple positions are typed
const badWalk: components['schemas']['Dog']['walks'] = [3, 'park'];
const ok: operations['getPet']['responses'][200]['content']['application/json'] = cat;
const problem: operations['getPet']['responses']['default']['content']['application/problem+json'] = { code: 'GONE' };
// @ts-expect-error the problem code is an enum
const badProblem: components['schemas']['Problem'] = { code: 'OOPS' };
type Del = operations['deletePet'];
const noContent: Del['responses'][204] = {};
const create: paths['/v1/pets']['post']['requestBody']['content']['application/json'] = { kind: 'dog', name: 'Rex', note: 'x' };
const createQuery: paths['/v1/pets']['post']['parameters']['query'] = { dryRun: true };
// @ts-expect-error dryRun is required
const missingQuery: paths['/v1/pets']['post']['parameters']['query'] = {};
const owner: components['schemas']['Owner'] = { name: null, pets: [cat, dog] };
const scope: Scope = 'pets:read';
// @ts-expect-error not a scope of the document
const badScope: Scope = 'pets:delete';
export { params, query, header, cat, dog, wrongTag, noLives, extra, badWalk, ok, problem, badProblem, noContent, create, createQuery, missingQuery, owner, scope, badScope };
`,
    });
    expect(diagnostics).toEqual([]);
  });

  it('names operations without an operationId from method and path, and refuses duplicates', () => {
    expect(generateTypes(SAMPLE)).toContain("post: operations['postV1Pets'];");
    const twice = structuredClone(SAMPLE);
    twice.paths!['/v1/pets'].get.operationId = 'getPet';
    expect(() => generateTypes(twice)).toThrow(/operationId getPet is used twice/);
  });

  it('keeps only the included operations and the components they reach, transitively', () => {
    const text = generateTypes(SAMPLE, { include: ({ operation }) => operation.operationId === 'deletePet' });
    expect(text).toContain("delete: operations['deletePet'];");
    expect(text).not.toContain('getPet');
    expect(text).toMatch(/schemas: \{\n {2}\};/);

    const reaching = generateTypes(SAMPLE, {
      include: ({ operation }) => operation.operationId === 'listPets',
    });
    // Pet → Cat → Owner → Pet (a cycle), Dog; not Problem, PetCreate or Unused.
    for (const name of ['Pet', 'Cat', 'Dog', 'Owner']) expect(reaching).toContain(`export type ${name} =`);
    for (const name of ['Problem', 'PetCreate', 'Unused'])
      expect(reaching).not.toContain(`export type ${name} =`);
    expect(typecheck({ 'types.ts': reaching })).toEqual([]);

    const broken = structuredClone(SAMPLE);
    broken.paths!['/v1/pets'].get.responses['200'].content['application/json'].schema = {
      $ref: '#/components/schemas/Nope',
    };
    expect(() => generateTypes(broken, { include: () => true })).toThrow(/Nope/);
  });

  it('gives the same text whatever the order of paths, methods and components', () => {
    const shuffled: OpenApiDocument = {
      ...SAMPLE,
      paths: Object.fromEntries(
        Object.entries(SAMPLE.paths!)
          .reverse()
          .map(([p, item]) => [p, Object.fromEntries(Object.entries(item).reverse())]),
      ),
      components: {
        ...SAMPLE.components,
        schemas: Object.fromEntries(Object.entries(SAMPLE.components!.schemas!).reverse()),
      },
    };
    expect(generateTypes(shuffled)).toBe(generateTypes(SAMPLE));
  });

  it('keeps comment terminators in descriptions from ending the JSDoc early', () => {
    const text = generateTypes(SAMPLE);
    expect(text).toContain('Delete *\\/ a pet');
    expect(typecheck({ 'types.ts': text })).toEqual([]);
  });
});

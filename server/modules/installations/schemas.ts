import { z } from 'zod';
import { Timestamp } from '../../http/route.ts';

/** What the installations API answers with; the service's DTOs are their z.output. */
export const InstallationSchema = z
  .object({
    id: z.string(),
    accountId: z.string(),
    appId: z.string(),
    versionId: z.string().describe('The app version the account consented to'),
    grantedScopes: z.array(z.string()),
    installedBy: z.string().nullable().describe('User id of the person who installed it'),
    status: z.enum(['active', 'uninstalled']),
    createdAt: Timestamp,
    uninstalledAt: Timestamp.nullable(),
  })
  .meta({ id: 'Installation' });

export const ScopeInWordsSchema = z.object({
  name: z.string(),
  description: z.string().describe('What the scope lets the app do, in plain words'),
  sensitivity: z.enum(['basic', 'personal', 'financial']),
});

export const InstalledAppSchema = InstallationSchema.extend({
  app: z.object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    iconUrl: z.string().nullable(),
    status: z.string().describe('active, suspended or unpublished'),
  }),
  version: z.object({
    id: z.string(),
    number: z.number().int().nullable().describe('The version the account consented to'),
  }),
  installedByName: z.string().nullable().describe('Name of the person who installed it'),
  scopes: z.array(ScopeInWordsSchema).describe('The granted scopes in plain words'),
  upgrade: z
    .object({
      versionId: z.string(),
      versionNumber: z.number().int(),
      scopes: z.array(ScopeInWordsSchema.extend({ optional: z.boolean() })),
      approveUrl: z
        .string()
        .nullable()
        .describe(
          "The app's install link with plaza_url: it leads to Plaza's consent page, where approving upgrades the installation in place. Null when the app has none",
        ),
    })
    .nullable()
    .describe('The live version asks for scopes the installation lacks (null: nothing to approve)'),
}).meta({ id: 'InstalledApp' });

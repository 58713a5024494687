import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { actorOf } from '../../http/auth.ts';
import { type Access, defineRoute } from '../../http/route.ts';
import type { CliService } from './service.ts';

const DEVELOPER: Access = { kind: 'org', orgKinds: ['developer'] };
const DEVELOPER_ADMIN: Access = { kind: 'org', orgKinds: ['developer'], minRole: 'admin' };
const AppParams = z.object({ orgId: z.string().max(64), appId: z.string().max(64) });
const UserCode = z.string().trim().min(1).max(16);
const STREAM_PING_MS = 15_000;

const DeviceStart = z.object({
  deviceCode: z.string().describe('Secret: the CLI polls with it'),
  userCode: z.string().describe('Shown to the person, who approves it in the web app'),
  verificationUri: z.string(),
  verificationUriComplete: z.string().describe('The approval page with the code filled in'),
  expiresIn: z.number().int(),
  interval: z.number().int().describe('Seconds between polls'),
});

const DeviceState = z.discriminatedUnion('status', [
  z.object({ status: z.enum(['pending', 'denied', 'expired']) }),
  z.object({
    status: z.literal('approved'),
    apiKey: z.string().describe('plz_key_...: a personal API key, shown this once'),
    keyId: z.string(),
    organization: z.object({ id: z.string(), name: z.string() }),
    user: z.object({ id: z.string(), name: z.string(), email: z.string() }),
  }),
]);

export function cliRoutes({ cli, baseUrl }: { cli: CliService; baseUrl: string }) {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/cli/device-codes',
      summary: 'CLI: start a device sign-in',
      tag: 'CLI',
      access: { kind: 'public' },
      status: 201,
      body: z.object({
        clientName: z
          .string()
          .trim()
          .min(1)
          .max(80)
          .default('plaza CLI')
          .describe('Shown on the approval page'),
      }),
      response: DeviceStart,
      async handler({ body }) {
        const started = await cli.startDeviceLogin(body);
        const page = `${baseUrl}/cli/login`;
        return {
          ...started,
          verificationUri: page,
          verificationUriComplete: `${page}?code=${encodeURIComponent(started.userCode)}`,
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/cli/device-codes/poll',
      summary: 'CLI: poll a device sign-in (the API key once approved)',
      tag: 'CLI',
      access: { kind: 'public' },
      body: z.object({ deviceCode: z.string().min(1).max(200) }),
      response: DeviceState,
      handler: ({ body, ctx }) =>
        cli.pollDeviceLogin(body.deviceCode, { ip: ctx.ip || null, requestId: ctx.state.requestId ?? null }),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/cli/device-codes/:userCode',
      summary: 'CLI: a sign-in code awaiting approval (for the approval page)',
      tag: 'CLI',
      access: { kind: 'user' },
      apiKeys: false,
      params: z.object({ userCode: UserCode }),
      response: z.object({
        userCode: z.string(),
        clientName: z.string(),
        expiresAt: z.string(),
        organizations: z.array(z.object({ id: z.string(), name: z.string(), role: z.string() })),
      }),
      handler: ({ params, ctx }) => cli.describeUserCode(actorOf(ctx), params.userCode),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/cli/device-codes/:userCode/decision',
      summary: 'CLI: approve or deny a sign-in code',
      tag: 'CLI',
      access: { kind: 'user' },
      apiKeys: false,
      params: z.object({ userCode: UserCode }),
      body: z.object({
        decision: z.enum(['approve', 'deny']),
        organizationId: z.string().max(64).optional().describe('The developer organization the CLI acts in'),
      }),
      response: z.object({ status: z.enum(['approved', 'denied']) }),
      handler: ({ params, body, ctx }) => cli.decide(actorOf(ctx), params.userCode, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/apps/:appId/webhooks/stream',
      summary: "CLI: stream the app's webhook messages (server-sent events) while connected",
      tag: 'CLI',
      access: DEVELOPER,
      params: AppParams,
      async handler({ org, params, ctx }) {
        // Without Accept: text/event-stream (a browser, a script), say what this is instead of hanging.
        if (!ctx.get('accept').includes('text/event-stream')) {
          const app = await cli.appOf(org, params.appId);
          ctx.body = {
            appId: app.id,
            appName: app.name,
            detail:
              'send Accept: text/event-stream to receive the app’s webhook messages as server-sent events',
          };
          return;
        }
        const out = new PassThrough();
        const write = (event: string, data: unknown, id?: string) =>
          out.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        const stream = await cli.openStream(org, params.appId, (m) => write('message', m, m.id));
        const ping = setInterval(() => out.write(': ping\n\n'), STREAM_PING_MS);
        let closed = false;
        const close = () => {
          if (closed) return;
          closed = true;
          clearInterval(ping);
          out.end();
          void stream.close();
        };
        ctx.req.on('close', close);
        ctx.req.socket.setTimeout(0);
        ctx.set('Cache-Control', 'no-cache, no-transform');
        ctx.set('X-Accel-Buffering', 'no');
        ctx.type = 'text/event-stream';
        ctx.status = 200;
        ctx.body = out;
        write('ready', { appId: stream.app.id, appName: stream.app.name });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/apps/:appId/webhooks/trigger',
      summary: 'CLI: emit a test event in a test account where the app is installed',
      tag: 'CLI',
      access: DEVELOPER,
      params: AppParams,
      status: 201,
      body: z.object({
        eventType: z.string().min(1).max(100),
        installationId: z.string().max(64).optional(),
      }),
      response: z.object({
        eventId: z.string(),
        eventType: z.string(),
        accountId: z.string(),
        installationId: z.string(),
      }),
      handler: ({ org, params, body }) => cli.trigger(org, params.appId, body),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/apps/:appId/installations/:installationId/token',
      summary: "CLI: tokens of one of the app's installations (development)",
      tag: 'CLI',
      access: DEVELOPER_ADMIN,
      params: AppParams.extend({ installationId: z.string().max(64) }),
      handler: async ({ org, params, ctx }) => {
        ctx.body = await cli.mintTokens(org, params.appId, params.installationId);
      },
    }),
  ];
}

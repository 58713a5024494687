import { AsyncLocalStorage } from 'node:async_hooks';
import pino from 'pino';

/** Values that must never reach a log line, wherever they sit in a logged object. */
const REDACT = [
  'password',
  'newPassword',
  'token',
  'secret',
  'apiKey',
  'authorization',
  'cookie',
  'csrfToken',
  'clientSecret',
  'accessToken',
  'refreshToken',
];
const redactPaths = REDACT.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]).concat([
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
]);

export type Logger = pino.Logger;

/** Carries the request id (and anything else per request) to every log line of that request. */
export const requestContext = new AsyncLocalStorage<{ requestId: string; host?: string }>();

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'plaza' },
      redact: { paths: redactPaths, censor: '[redacted]' },
      mixin() {
        const store = requestContext.getStore();
        return store ? { requestId: store.requestId } : {};
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

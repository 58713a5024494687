/**
 * `plaza login`'s approval page in real Chromium: the person opens the URL
 * the CLI prints, signs in, checks the code, picks the developer
 * organization and approves; the CLI's next poll gets the API key.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { developer } from '../helpers/apps.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';

let plaza: PlazaServer;
let browser: Browser;

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  plaza = await startPlazaServer({ workers: false });
  browser = await launchBrowser();
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await plaza?.close();
});

describe('the CLI approval page', () => {
  it('signs the person in, shows the code and approves it for the chosen developer organization', async () => {
    const dev = await developer(plaza);
    const started = await plaza.http
      .post('/v1/cli/device-codes')
      .send({ clientName: 'plaza CLI on laptop' })
      .expect(201);
    const { userCode, deviceCode, verificationUriComplete } = started.body;

    const context = await browser.newContext({ viewport: { width: 390, height: 800 } });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    await page.goto(verificationUriComplete);
    // Not signed in: the sign-in page first, then back to the code.
    await page.getByRole('heading', { name: 'Sign in to Plaza' }).waitFor();
    await page.getByLabel('Email', { exact: true }).fill(dev.user.email);
    await page.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Sign in the Plaza CLI' }).waitFor();
    expect(await page.getByTestId('cli-code').textContent()).toBe(userCode);
    await page.getByText('plaza CLI on laptop').waitFor();
    expect(await page.getByLabel('Developer organization').inputValue()).toBe(dev.orgId);

    const before = await plaza.http.post('/v1/cli/device-codes/poll').send({ deviceCode }).expect(200);
    expect(before.body.status).toBe('pending');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByTestId('cli-approved').waitFor();
    const after = await plaza.http.post('/v1/cli/device-codes/poll').send({ deviceCode }).expect(200);
    expect(after.body).toMatchObject({ status: 'approved', organization: { id: dev.orgId } });
    await context.close();
  }, 60_000);
});

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { linkToken, mailTo } from '../helpers/email.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { signUp, uniqueEmail } from '../helpers/world.ts';

/** Forgot password, the emailed link, the reset page and signing in with the new password, in Chromium. */
let plaza: PlazaServer;
let browser: Browser;
beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  plaza = await startPlazaServer({ env: { PLAZA_DEV_MAILBOX: 'true' } });
  browser = await launchBrowser();
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await plaza?.close();
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ baseURL: plaza.baseUrl });
  context.setDefaultTimeout(10_000);
  return context.newPage();
}

describe('password reset pages', () => {
  it('asks for a link, sets a new password from it once, and signs in with it', async () => {
    const email = uniqueEmail('forgetful');
    await signUp(plaza, { email, password: 'the old password here' });
    const page = await newPage();
    await page.goto('/login');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByRole('heading', { name: 'Reset your password' }).waitFor();
    expect(await page.getByLabel('Email', { exact: true }).inputValue()).toBe(email);
    await page.getByRole('button', { name: 'Send reset link' }).click();
    await page.getByText('If an account has this address').waitFor();

    const token = linkToken(await mailTo(plaza, email, /reset/i), '/reset-password');
    await page.goto(`/reset-password?token=${token}`);
    await page.getByLabel('New password', { exact: true }).fill('short');
    await page.getByLabel('Repeat the new password').fill('short');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByText('Use at least 12 characters').waitFor();
    await page.getByLabel('New password', { exact: true }).fill('a brand new password');
    await page.getByLabel('Repeat the new password').fill('a brand new password');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByText('Your password is changed').waitFor();

    // The link works once.
    await page.goto(`/reset-password?token=${token}`);
    await page.getByLabel('New password', { exact: true }).fill('yet another password');
    await page.getByLabel('Repeat the new password').fill('yet another password');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByText('already used').waitFor();
    await page.getByRole('link', { name: 'Ask for a new link' }).waitFor();

    await page.goto('/login');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill('a brand new password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your organizations' }).waitFor();
  });

  it('a broken verification link says so', async () => {
    const page = await newPage();
    await page.goto('/verify-email?token=usr_nobody.1.bad');
    await page.getByText('this link is not valid').waitFor();
  });
});

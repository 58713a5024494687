import type { z } from 'zod';
import type { VersionFields } from '../modules/apps/index.ts';
import type { ScreenshotSpec } from './art.ts';

/**
 * The demo marketplace: apps by the demo developer "Acme Apps", and what the
 * demo customers did with them. Plain data; server/seed/apps.ts runs it
 * through the services. Every live app passes the automated checks (https
 * URLs, justified scopes, privacy webhooks for personal-data scopes, icon,
 * screenshot, a description of 100+ characters).
 */
export interface DemoApp {
  slug: string;
  /** `live`: submitted, checked, approved; `queued`: submitted and checked, waiting for a reviewer. */
  goal: 'live' | 'queued';
  /** Icon and screenshot colour. */
  color: string;
  letter: string;
  /** Version fields as a developer would send them (parsed by the same schema as the API). */
  version: z.input<typeof VersionFields> & { name: string };
  screenshots: ScreenshotSpec[];
  /** What the operator writes when approving. */
  approvalComment?: string;
}

/** The demo accounts that install and rate apps. */
export type DemoAccount = 'bakery' | 'dental' | 'testShop';

export interface DemoInstall {
  account: DemoAccount;
  slug: string;
  review?: { rating: number; body: string; reply?: string };
}

const PRIVACY_EVENTS = ['app.data_request', 'app.data_erasure'];
/** An app's listing URLs; `install: false` for an app that is only installed from its own site. */
const urls = (slug: string, opts: { install?: boolean } = {}) => ({
  supportUrl: `https://acme-apps.example.com/${slug}/support`,
  privacyUrl: `https://acme-apps.example.com/${slug}/privacy`,
  termsUrl: `https://acme-apps.example.com/${slug}/terms`,
  redirectUris: [`https://${slug}.acme-apps.example.com/oauth/callback`],
  installUrl: opts.install === false ? null : `https://${slug}.acme-apps.example.com/plaza/install`,
});

/** Test accounts of Acme Apps (development mode). */
export const DEMO_TEST_ACCOUNTS = ['Acme Test Shop', 'Acme Test Clinic'] as const;

export const DEMO_APPS: DemoApp[] = [
  {
    slug: 'newsletter-kit',
    goal: 'live',
    color: '#e4572e',
    letter: 'N',
    version: {
      name: 'Newsletter Kit',
      tagline: 'Friendly email newsletters to your customers, with sign-up forms and open-rate reports.',
      category: 'marketing',
      description: `Newsletter Kit turns your contact list into a newsletter people look forward to.

## What you get

- **Drag-and-drop templates** that look good on phones, with your logo and colours.
- **Sign-up forms** for your website and a QR code for the counter: new subscribers land in your contacts.
- **Segments** built from your contacts: regulars, new customers, people who have not visited in a while.
- **Reports** after every send: opens, clicks and unsubscribes, in plain numbers.

## How it works

1. Install Newsletter Kit and pick which contacts to import.
2. Choose a template, write your news, and preview it on desktop and phone.
3. Send now or schedule it for Tuesday morning, when most people read their email.

Unsubscribes flow back to your contacts automatically, so you never email someone who said no.
Your business name and address go in every footer, as anti-spam laws require.`,
      ...urls('newsletter-kit'),
      scopes: [
        {
          name: 'contacts:read',
          justification:
            'We build your mailing lists from your contacts and keep them in step when contacts change.',
        },
        {
          name: 'contacts:write',
          justification: 'People who sign up through a Newsletter Kit form are added to your contacts.',
          optional: true,
        },
        {
          name: 'account:read',
          justification: 'Your business name and address appear in the footer of every newsletter.',
        },
      ],
      webhookEvents: PRIVACY_EVENTS,
      pricing: { type: 'recurring', interval: 'month', amount: 1900, currency: 'USD', trialDays: 14 },
    },
    screenshots: [
      {
        kind: 'bars',
        title: 'Campaigns',
        figures: [
          ['SENT THIS MONTH', '2408'],
          ['OPEN RATE', '61%'],
          ['CLICK RATE', '18%'],
        ],
      },
      {
        kind: 'list',
        title: 'Scheduled sends',
        figures: [
          ['SUBSCRIBERS', '1175'],
          ['NEW THIS WEEK', '42'],
          ['UNSUBSCRIBED', '3'],
        ],
      },
    ],
    approvalComment: 'Clear listing, scopes match what it does. Welcome to the marketplace!',
  },
  {
    slug: 'text-reminders',
    goal: 'live',
    color: '#17a398',
    letter: 'T',
    version: {
      name: 'Text Reminders',
      tagline: 'Appointment reminders by text message that customers can confirm with one reply.',
      category: 'communication',
      description: `Cut no-shows with a friendly text the day before each appointment.

## Features

- Reminders **24 hours and 2 hours** before, or whenever you choose.
- Customers reply **C** to confirm or **R** to ask for a new time; replies show up in your dashboard.
- Messages use your business name and speak your customers' language (English, Spanish, French, German).
- Quiet hours: nothing is sent between 9 pm and 8 am in the customer's time zone.

## Pricing you can predict

You pay per text message actually delivered, and never more than the monthly cap,
however busy the month gets. Failed deliveries are not charged.`,
      ...urls('text-reminders'),
      scopes: [
        {
          name: 'contacts:read',
          justification: 'We need each customer’s name and mobile number to send their reminder.',
        },
        {
          name: 'account:read',
          justification: 'Messages are signed with your business name and sent in your time zone.',
        },
      ],
      webhookEvents: PRIVACY_EVENTS,
      pricing: {
        type: 'usage',
        unitName: 'text message',
        unitAmount: 4,
        currency: 'USD',
        cappedAmount: 5000,
      },
    },
    screenshots: [
      {
        kind: 'list',
        title: 'Tomorrow',
        figures: [
          ['REMINDERS', '18'],
          ['CONFIRMED', '14'],
          ['NO-SHOWS 30 DAYS', '2%'],
        ],
      },
    ],
  },
  {
    slug: 'quick-invoices',
    goal: 'live',
    color: '#3d5a80',
    letter: 'Q',
    version: {
      name: 'Quick Invoices',
      tagline: 'Professional invoices in two clicks, with payment links and gentle reminders.',
      category: 'payments',
      description: `Send invoices that get paid, without learning accounting software.

## Highlights

- Pick a customer from your contacts, add lines, send: **your logo, your details, done**.
- Every invoice carries a **payment link** for card or bank transfer.
- Overdue invoices get a polite reminder after 7 and 14 days (you can turn this off).
- Export a month of invoices as CSV for your accountant.

## One price, forever

Quick Invoices is a one-time purchase: no subscription, no per-invoice fees.
Updates are included.`,
      ...urls('quick-invoices'),
      scopes: [
        { name: 'contacts:read', justification: 'Invoices are addressed to customers from your contacts.' },
        {
          name: 'account:read',
          justification: 'Your business name, address and tax number are printed on each invoice.',
        },
      ],
      webhookEvents: PRIVACY_EVENTS,
      pricing: { type: 'one_time', amount: 4900, currency: 'USD' },
    },
    screenshots: [
      {
        kind: 'list',
        title: 'Invoices',
        figures: [
          ['PAID', '12'],
          ['OUTSTANDING', '4'],
          ['OVERDUE', '1'],
        ],
      },
    ],
  },
  {
    slug: 'footfall-insights',
    goal: 'live',
    color: '#2e86ab',
    letter: 'F',
    version: {
      name: 'Footfall Insights',
      tagline: 'See your busiest hours and days at a glance, and staff for them.',
      category: 'analytics',
      description: `Footfall Insights shows when your customers come in, so you can plan around it.

## Dashboards

- **Busiest hours** heat map, week by week.
- **Trends**: this week against the last four, with the difference in plain words.
- **Team view**: who was on shift during your busiest hours.

## Free, and private by design

Footfall Insights is free. It reads only your account settings and the names of your team,
never your customers’ personal data.`,
      ...urls('footfall-insights'),
      scopes: [
        { name: 'account:read', justification: 'Opening hours and time zone frame the charts.' },
        {
          name: 'users:read',
          justification: 'The team view shows which colleagues were on shift in each hour.',
          optional: true,
        },
      ],
      webhookEvents: [],
      pricing: { type: 'free' },
    },
    screenshots: [
      {
        kind: 'line',
        title: 'Visitors this week',
        figures: [
          ['VISITORS', '2408'],
          ['VS LAST WEEK', '12%'],
          ['BUSIEST HOUR', '8:00'],
        ],
      },
      {
        kind: 'bars',
        title: 'Busiest hours',
        figures: [
          ['PEAK', '8:00'],
          ['QUIETEST', '15:00'],
          ['AVG / HOUR', '36'],
        ],
      },
    ],
  },
  {
    slug: 'helpdesk-inbox',
    goal: 'live',
    color: '#7b2cbf',
    letter: 'H',
    version: {
      name: 'Helpdesk Inbox',
      tagline: 'One shared inbox for customer questions, with assignments and saved replies.',
      category: 'support',
      description: `Stop losing customer emails in personal inboxes.

## A shared inbox for the whole team

- Every question lands in **one place**, matched to the customer it came from.
- **Assign** a conversation to a colleague; they are told by email.
- **Saved replies** for the questions you answer every day (opening hours, allergens, refunds).
- Internal notes that customers never see.

## Service levels

See how long customers wait for a first answer, and get a nudge when a conversation
has been waiting longer than you promised.

Try it free for 30 days; cancel any time from your account.`,
      ...urls('helpdesk-inbox'),
      scopes: [
        {
          name: 'contacts:read',
          justification: 'Incoming emails are matched to your contacts so you see who is asking.',
        },
        { name: 'users:read', justification: 'Conversations are assigned to people in your account.' },
        {
          name: 'users:read_email',
          justification: 'We email a teammate when a conversation is assigned to them.',
          optional: true,
        },
      ],
      webhookEvents: PRIVACY_EVENTS,
      pricing: { type: 'recurring', interval: 'month', amount: 2900, currency: 'USD', trialDays: 30 },
    },
    screenshots: [
      {
        kind: 'inbox',
        title: 'Open conversations',
        figures: [
          ['OPEN', '7'],
          ['FIRST REPLY', '42 MIN'],
          ['SOLVED TODAY', '23'],
        ],
      },
    ],
  },
  {
    slug: 'shift-rota',
    goal: 'live',
    color: '#f18f01',
    letter: 'S',
    version: {
      name: 'Shift Rota',
      tagline: 'Plan the week’s shifts in minutes and send everyone their schedule.',
      category: 'scheduling',
      description: `Shift Rota replaces the spreadsheet on the back-office wall.

## Plan

- Drag shifts onto a **weekly grid**; copy last week with one click.
- See **hours per person** as you plan, with a warning before anyone goes over their contract.
- Mark holidays and availability so you never schedule someone who is away.

## Share

Publish the rota and everyone gets their shifts by email, with a calendar file for their phone.
Changes after publishing are sent only to the people they affect.

Billed yearly, for your whole team.`,
      // Staff sign up on Shift Rota's own site first, so the marketplace shows no Install button.
      ...urls('shift-rota', { install: false }),
      scopes: [
        { name: 'users:read', justification: 'The people in your account are the people you schedule.' },
        {
          name: 'users:read_email',
          justification: 'Each person receives their published shifts by email.',
        },
      ],
      webhookEvents: PRIVACY_EVENTS,
      pricing: { type: 'recurring', interval: 'year', amount: 9900, currency: 'USD', trialDays: 0 },
    },
    screenshots: [
      {
        kind: 'week',
        title: 'Week 23',
        figures: [
          ['SHIFTS', '31'],
          ['HOURS PLANNED', '186'],
          ['OPEN SHIFTS', '2'],
        ],
      },
    ],
  },
  {
    slug: 'loyalty-cards',
    goal: 'queued',
    color: '#c1121f',
    letter: 'L',
    version: {
      name: 'Loyalty Cards',
      tagline: 'Digital stamp cards: buy nine coffees, the tenth is on the house.',
      category: 'crm',
      description: `Replace paper stamp cards with a digital one customers cannot lose.

## How it works

- Customers join with their phone number at the till; no app to download.
- Each purchase adds a **stamp** to their contact; the reward is applied automatically.
- See your **regulars** and how often they come back.

Plans start at $9 a month.`,
      ...urls('loyalty-cards'),
      scopes: [
        { name: 'contacts:read', justification: 'Stamps are kept on the customer’s contact.' },
        {
          name: 'contacts:write',
          justification: 'New members are added to your contacts when they join at the till.',
        },
      ],
      webhookEvents: PRIVACY_EVENTS,
      pricing: { type: 'recurring', interval: 'month', amount: 900, currency: 'USD', trialDays: 0 },
    },
    screenshots: [
      {
        kind: 'bars',
        title: 'Stamps this month',
        figures: [
          ['MEMBERS', '312'],
          ['STAMPS', '1480'],
          ['REWARDS', '96'],
        ],
      },
    ],
  },
];

/**
 * Installations and ratings. Popularity and rating orders differ on purpose:
 * most installed is Newsletter Kit and Text Reminders (2 each), best rated is
 * Text Reminders (5.0), then Quick Invoices (4.0), Newsletter Kit (3.5).
 */
export const DEMO_INSTALLS: DemoInstall[] = [
  {
    account: 'bakery',
    slug: 'newsletter-kit',
    review: {
      rating: 4,
      body: 'Our weekly "fresh out of the oven" email takes ten minutes now instead of an hour. The templates are lovely; I would like more control over fonts.',
    },
  },
  {
    account: 'dental',
    slug: 'newsletter-kit',
    review: {
      rating: 3,
      body: 'Does the job for our check-up reminders newsletter and the sign-up form was easy to add to our site. The reports are a bit basic.',
    },
  },
  { account: 'bakery', slug: 'text-reminders' },
  {
    account: 'dental',
    slug: 'text-reminders',
    review: {
      rating: 5,
      body: 'No-shows dropped noticeably in the first month. Patients reply C to confirm, and the monthly cap means no surprises on the bill.',
    },
  },
  {
    account: 'bakery',
    slug: 'quick-invoices',
    review: {
      rating: 4,
      body: 'Invoices for our café customers in a couple of clicks. Paid once, no subscription: exactly what a small shop needs.',
    },
  },
  {
    account: 'bakery',
    slug: 'footfall-insights',
    review: {
      rating: 3,
      body: 'Nice charts and it is free, but I wish it could compare this week with the same week last year.',
      reply:
        'Thank you! Year-on-year comparison is the next thing we are building; it will come in the next version.',
    },
  },
  { account: 'dental', slug: 'helpdesk-inbox' },
  // Development mode: the queued version, installed in the developer's own test account.
  { account: 'testShop', slug: 'loyalty-cards' },
];

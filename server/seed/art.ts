import { Canvas, hex, type Rgb, shade } from './png.ts';

/**
 * The demo apps' pictures, drawn in code: a square icon with the app's
 * letter, and screenshots that look like a small web app (top bar, sidebar,
 * figures and one panel: a bar or line chart, a list, an inbox or a week).
 */
export const ICON_SIZE = 128;
export const SCREENSHOT_SIZE = { width: 800, height: 500 } as const;

export interface ScreenshotSpec {
  kind: 'bars' | 'line' | 'list' | 'inbox' | 'week';
  /** Heading above the figures (A–Z, digits, space, - . : % /). */
  title: string;
  /** Three figures: [label, value]. */
  figures: [[string, string], [string, string], [string, string]];
}

const INK: Rgb = hex('#1f2430');
const MUTED: Rgb = hex('#c9ced8');
const FAINT: Rgb = hex('#e8ebf0');
const PAGE: Rgb = hex('#f4f5f7');
const WHITE: Rgb = [255, 255, 255];

/** A square icon: the app colour, a lighter disc for depth, the letter in white. */
export function drawIcon(color: string, letter: string): Buffer {
  const base = hex(color);
  const c = new Canvas(ICON_SIZE, ICON_SIZE, base);
  c.circle(112, 16, 64, shade(base, 0.12));
  c.rect(0, 104, ICON_SIZE, 24, shade(base, -0.12));
  const scale = 12;
  const w = Canvas.textWidth(letter, scale);
  c.text(letter, (ICON_SIZE - w) / 2, (ICON_SIZE - 7 * scale) / 2 - 4, scale, WHITE);
  return c.toPng();
}

/** A screenshot of the app's main screen. */
export function drawScreenshot(color: string, appName: string, spec: ScreenshotSpec): Buffer {
  const { width, height } = SCREENSHOT_SIZE;
  const accent = hex(color);
  const soft = shade(accent, 0.82);
  const c = new Canvas(width, height, PAGE);

  // Top bar: app name, a search field, the signed-in person.
  c.rect(0, 0, width, 56, accent);
  c.text(appName, 24, 18, 3, WHITE);
  c.rect(width - 300, 16, 200, 24, shade(accent, 0.25), 12);
  c.circle(width - 40, 28, 14, shade(accent, 0.5));

  // Sidebar with the first item selected.
  c.rect(0, 56, 180, height - 56, WHITE);
  for (let i = 0; i < 6; i++) {
    const y = 80 + i * 40;
    if (i === 0) c.rect(12, y - 9, 156, 32, soft, 8);
    c.rect(24, y, 14, 14, i === 0 ? accent : MUTED, 3);
    c.rect(48, y + 2, 70 + ((i * 37) % 50), 10, i === 0 ? accent : MUTED, 5);
  }

  // Heading and three figures.
  const x0 = 200;
  const inner = width - x0 - 20;
  c.text(spec.title, x0, 74, 2, INK);
  const cardW = (inner - 32) / 3;
  spec.figures.forEach(([label, value], i) => {
    const x = x0 + i * (cardW + 16);
    c.rect(x, 100, cardW, 92, WHITE, 8);
    c.text(label, x + 16, 116, 1, hex('#6b7280'));
    c.text(value, x + 16, 140, 4, i === 0 ? accent : INK);
  });

  // The panel.
  const panel = { x: x0, y: 208, w: inner, h: height - 208 - 20 };
  c.rect(panel.x, panel.y, panel.w, panel.h, WHITE, 8);
  const draw = { bars, line, list, inbox, week }[spec.kind];
  draw(c, panel, accent, soft);
  return c.toPng();
}

type Panel = { x: number; y: number; w: number; h: number };

/** Deterministic wiggle: values in 0..1 that look like data. */
const wave = (i: number) =>
  Math.min(1, Math.max(0, 0.5 + 0.3 * Math.sin(i * 1.3) + 0.2 * Math.sin(i * 0.37 + 1)));

function bars(c: Canvas, p: Panel, accent: Rgb) {
  const n = 14;
  const gap = 10;
  const bw = (p.w - 40 - gap * (n - 1)) / n;
  const base = p.y + p.h - 24;
  for (let k = 0; k < 4; k++) c.rect(p.x + 20, base - k * 50, p.w - 40, 1, FAINT);
  for (let i = 0; i < n; i++) {
    const h = Math.round((0.2 + 0.75 * wave(i + 3)) * (p.h - 60));
    c.rect(p.x + 20 + i * (bw + gap), base - h, bw, h, i === n - 1 ? accent : shade(accent, 0.45), 4);
  }
}

function line(c: Canvas, p: Panel, accent: Rgb, soft: Rgb) {
  const base = p.y + p.h - 24;
  const top = p.y + 24;
  const left = p.x + 20;
  const span = p.w - 40;
  for (let k = 0; k < 4; k++) c.rect(left, base - k * 50, span, 1, FAINT);
  // A gently rising series: y for every pixel column, the area under it, then the line.
  const value = (t: number) => 0.3 + 0.45 * t + 0.12 * Math.sin(t * 14) + 0.06 * Math.sin(t * 37);
  const ys = Array.from({ length: span }, (_, i) => base - value(i / span) * (base - top));
  ys.forEach((y, i) => {
    c.rect(left + i, y, 1, base - y, soft);
  });
  ys.forEach((y, i) => {
    const prev = ys[Math.max(0, i - 1)];
    c.rect(left + i - 1, Math.min(y, prev) - 1, 3, Math.abs(y - prev) + 3, accent);
  });
}

function list(c: Canvas, p: Panel, accent: Rgb, soft: Rgb) {
  const rowH = 44;
  for (let i = 0; (i + 1) * rowH <= p.h - 12; i++) {
    const y = p.y + 12 + i * rowH;
    if (i > 0) c.rect(p.x + 16, y - 1, p.w - 32, 1, FAINT);
    c.circle(p.x + 36, y + rowH / 2, 12, i % 3 === 0 ? accent : soft);
    c.rect(p.x + 60, y + 12, 120 + ((i * 53) % 90), 9, INK, 4);
    c.rect(p.x + 60, y + 27, 180 + ((i * 31) % 80), 7, MUTED, 3);
    const done = i % 3 !== 1;
    c.rect(p.x + p.w - 110, y + 13, 80, 18, done ? soft : FAINT, 9);
    c.rect(p.x + p.w - 94, y + 19, 48, 6, done ? accent : MUTED, 3);
  }
}

function inbox(c: Canvas, p: Panel, accent: Rgb, soft: Rgb) {
  const split = p.x + Math.round(p.w * 0.42);
  c.rect(split, p.y + 12, 1, p.h - 24, FAINT);
  const rowH = 50;
  for (let i = 0; (i + 1) * rowH <= p.h - 12; i++) {
    const y = p.y + 12 + i * rowH;
    if (i === 1) c.rect(p.x + 8, y, split - p.x - 16, rowH - 4, soft, 6);
    c.circle(p.x + 30, y + 22, 10, i === 1 ? accent : MUTED);
    c.rect(p.x + 50, y + 12, 90 + ((i * 29) % 60), 8, INK, 4);
    c.rect(p.x + 50, y + 27, 150 + ((i * 17) % 40), 6, MUTED, 3);
  }
  // The open conversation: two messages and a reply box.
  const rx = split + 20;
  const rw = p.x + p.w - rx - 20;
  c.rect(rx, p.y + 20, 160, 10, INK, 5);
  c.rect(rx, p.y + 48, rw * 0.75, 60, FAINT, 10);
  c.rect(rx + rw * 0.25, p.y + 122, rw * 0.75, 44, soft, 10);
  c.rect(rx, p.y + p.h - 64, rw, 44, WHITE, 8);
  c.rect(rx, p.y + p.h - 64, rw, 2, MUTED);
  c.rect(rx + rw - 84, p.y + p.h - 54, 76, 26, accent, 13);
}

function week(c: Canvas, p: Panel, accent: Rgb, soft: Rgb) {
  const days = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'];
  const colW = (p.w - 32) / 7;
  const top = p.y + 40;
  const hourH = (p.h - 56) / 8;
  days.forEach((d, i) => {
    const x = p.x + 16 + i * colW;
    c.text(d, x + (colW - Canvas.textWidth(d, 1)) / 2, p.y + 16, 1, INK);
    if (i > 0) c.rect(x, top, 1, p.h - 56, FAINT);
  });
  for (let h = 0; h <= 8; h++) c.rect(p.x + 16, top + h * hourH, p.w - 32, 1, FAINT);
  // Shifts: a morning and an afternoon block most days.
  days.forEach((_, i) => {
    const x = p.x + 16 + i * colW + 4;
    const start = i % 3;
    c.rect(x, top + start * hourH + 3, colW - 8, hourH * 3 - 6, i === 2 ? accent : soft, 6);
    const late = start === 2 ? 2 : 2 + (i % 2);
    if (i < 6) c.rect(x, top + (start + 4) * hourH + 3, colW - 8, hourH * late - 6, soft, 6);
  });
}

import type { InvoiceView } from './invoices.ts';
import { formatMoney } from './pricing.ts';

/**
 * A one-page PDF of an invoice, written by hand: text in the standard
 * Helvetica font (no font file to embed), one line per invoice line. Enough
 * for a document to file or send; the HTML download is the styled one.
 * Text outside printable ASCII is replaced, since the standard fonts'
 * encoding has no room for it.
 */
export function invoicePdf(inv: InvoiceView, org: { name: string }, issuer: string): Buffer {
  const money = (n: number) => formatMoney(n, inv.currency);
  const rows: Array<[string, string, string]> = inv.lines.map((l) => [
    l.description,
    l.quantity === null ? '' : String(l.quantity),
    money(l.amount),
  ]);
  const text: Array<{ x: number; y: number; size: number; s: string }> = [];
  let y = 790;
  const put = (x: number, s: string, size = 10) => text.push({ x, y, size, s });
  put(50, inv.number ? `Invoice ${inv.number}` : 'Draft invoice', 18);
  y -= 30;
  put(50, `Issued by ${issuer} to ${org.name}`);
  y -= 14;
  put(50, `Period ${inv.periodStart.slice(0, 10)} to ${inv.periodEnd.slice(0, 10)}`);
  y -= 14;
  put(50, `Status: ${inv.status}${inv.finalizedAt ? `, finalized ${inv.finalizedAt.slice(0, 10)}` : ''}`);
  y -= 30;
  put(50, 'Description', 10);
  put(380, 'Quantity', 10);
  put(460, 'Amount', 10);
  for (const [d, q, a] of rows) {
    y -= 16;
    put(50, d.length > 60 ? `${d.slice(0, 57)}...` : d);
    put(380, q);
    put(460, a);
  }
  y -= 24;
  put(50, 'Total', 12);
  put(460, inv.total === null ? '' : money(inv.total), 12);

  const clean = (s: string) =>
    s
      .replace(/[\u2013\u2014]/g, '-')
      .replace(/[\u2018\u2019]/g, "'")
      .replace(/[^\x20-\x7e]/g, '?')
      .replace(/[\\()]/g, (c) => `\\${c}`);
  const content = text.map((t) => `BT /F1 ${t.size} Tf ${t.x} ${t.y} Td (${clean(t.s)}) Tj ET`).join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

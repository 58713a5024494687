/**
 * Decodes Stripe's form bodies and query strings (`a[b][0]=x`, repeated keys)
 * into nested objects and arrays, the way the Stripe API reads them.
 */
export type FormValue = string | FormValue[] | { [key: string]: FormValue };

export function parseForm(text: string): Record<string, FormValue> {
  const root: Record<string, any> = {};
  for (const pair of text.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const rawKey = decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' '));
    const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '));
    const parts = rawKey.split('[').map((p, i) => (i === 0 ? p : p.replace(/\]$/, '')));
    let node = root;
    for (let i = 0; i < parts.length; i++) {
      const key = parts[i] === '' ? String(Object.keys(node).length) : parts[i];
      if (i === parts.length - 1) {
        if (key in node && parts.length === 1) {
          // Repeated plain key (`include=a&include=b`): a list.
          node[key] = Array.isArray(node[key]) ? [...node[key], value] : [node[key], value];
        } else node[key] = value;
      } else {
        node[key] ??= {};
        node = node[key];
      }
    }
  }
  return arrays(root) as Record<string, FormValue>;
}

/** Objects whose keys are 0..n-1 become arrays. */
function arrays(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(arrays);
  if (!node || typeof node !== 'object') return node;
  const entries = Object.entries(node as Record<string, unknown>).map(([k, v]) => [k, arrays(v)] as const);
  const keys = entries.map(([k]) => k);
  if (keys.length && keys.every((k, i) => k === String(i))) return entries.map(([, v]) => v);
  return Object.fromEntries(entries);
}

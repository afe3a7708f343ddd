/**
 * Package URLs (purl-spec): `pkg:<type>/<namespace>/<name>@<version>?<qualifiers>`. Each namespace segment,
 * the name, the version and each qualifier value are percent-encoded (so `+` in a Debian version is `%2B`,
 * `@` of an npm scope `%40`); `:` stays as it is, as the spec allows. Qualifiers are sorted by key and
 * empty ones dropped.
 */
import type { PackageType } from '../../model/index.js';

function enc(s: string): string {
  return encodeURIComponent(s).replace(/%3A/gi, ':');
}

export function purl(type: PackageType, namespace: string | undefined, name: string, version: string, qualifiers: Record<string, string | undefined> = {}): string {
  const ns = namespace ? namespace.split('/').filter(Boolean).map(enc).join('/') + '/' : '';
  const q = Object.entries(qualifiers)
    .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k.toLowerCase()}=${enc(v)}`)
    .join('&');
  return `pkg:${type}/${ns}${enc(name)}${version ? '@' + enc(version) : ''}${q ? '?' + q : ''}`;
}

/** RFC 822 style "Key: value" headers up to the first blank line (dpkg, METADATA, PKG-INFO), continuation lines joined. */
export function headerFields(paragraph: string): Map<string, string> {
  const out = new Map<string, string>();
  let last: string | undefined;
  for (const line of paragraph.split('\n')) {
    if (line.trim() === '') {
      if (out.size) break;
      continue;
    }
    if ((line[0] === ' ' || line[0] === '\t') && last !== undefined) {
      out.set(last, out.get(last) + '\n' + line.trim());
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) continue;
    last = line.slice(0, i).trim();
    if (!out.has(last)) out.set(last, line.slice(i + 1).trim());
    else last = undefined; // a repeated key (Classifier: …) keeps its first value
  }
  return out;
}

/** Splits a control-file text into paragraphs (blank-line separated), CRLF tolerated. */
export function paragraphs(text: string): string[] {
  return text.replace(/\r\n/g, '\n').split(/\n[ \t]*\n/).filter((p) => p.trim() !== '');
}

/** Credentials never reach a message, a log line or a record: URLs lose their userinfo. */
/** Removes `user:password@` from URLs anywhere in a string. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
}

/** A source as it may be shown: URLs without userinfo, query or fragment; paths as given. */
export function redactSource(source: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return source;
  try {
    const u = new URL(source);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<invalid url>';
  }
}

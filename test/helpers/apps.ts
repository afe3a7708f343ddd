/** Sources of small test apps: ordinary Dockerfiles on the locally built busybox:latest. */
export function webApp(body: string, opts: { test?: string; crash?: boolean } = {}): Record<string, string> {
  // httpd as PID 1 would ignore SIGTERM; run it as a child and forward the signal so stops are quick.
  const cmd = opts.crash
    ? 'echo "booting"; echo "fatal: config missing" >&2; exit 3'
    : 'httpd -f -p "${PORT:-5000}" -h /www & pid=$!; trap "kill $pid" TERM INT; wait $pid';
  return {
    Dockerfile: ['FROM busybox:latest', 'COPY index.html /www/index.html', 'COPY test.sh /app/test.sh', 'EXPOSE 5000', `CMD ["sh", "-c", ${JSON.stringify(cmd)}]`, ''].join('\n'),
    'index.html': `<h1>${body}</h1>\n`,
    'test.sh': opts.test ?? 'grep -q h1 /www/index.html\n',
    'pleaco.json': JSON.stringify({ test: 'sh /app/test.sh' }),
  };
}

/**
 * pleaco-host: the privileged side of host updates, run as root by pleaco-host.service whenever the agent files a
 * request (pleaco-host.path watches <stateDir>/host/, PLEACO_STATE_DIR). It does every pending request (update/host-side.ts), answers
 * each, and exits; after arming the new slot it asks systemd for the reboot. Logs are JSON lines (journald).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createLogger } from '../log.js';
import { answer, doRequest, HOST_PATHS, takeRequests, TrustedKeys, DEFAULT_TRUST_DIR } from '../update/index.js';

const run = promisify(execFile);

async function main(): Promise<number> {
  // Only the state dir is needed (not the whole configuration: nothing here may fail before every request is answered).
  const stateDir = process.env.PLEACO_STATE_DIR ?? '/var/lib/pleaco';
  const log = createLogger({ proc: 'host' });
  const etcPleaco = process.env.PLEACO_ETC_DIR ?? '/etc/pleaco';
  let reboot = false;
  for (const req of await takeRequests(stateDir)) {
    const at = (): string => new Date().toISOString();
    log.info('host request', { op: req.op, id: req.id });
    try {
      const trusted = TrustedKeys.load(process.env.PLEACO_UPDATE_KEYS ?? DEFAULT_TRUST_DIR);
      const r = await doRequest(req, { stateDir, trusted, paths: HOST_PATHS, etcPleaco, log });
      reboot ||= r.reboot;
      await answer(stateDir, { id: req.id, ok: true, error: null, at: at() });
    } catch (err) {
      log.error('host request failed', { op: req.op, error: err instanceof Error ? err.message : String(err) });
      await answer(stateDir, { id: req.id, ok: false, error: err instanceof Error ? err.message : String(err), at: at() });
    }
  }
  if (reboot) {
    log.info('rebooting');
    await run('systemctl', ['reboot'], { timeout: 30_000 });
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    createLogger({ proc: 'host' }).error('pleaco-host failed', { error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  },
);

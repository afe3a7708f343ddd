/**
 * What a reload may carry over from the old worker (`show servers state` → `server-state-file`, loaded by
 * `load-server-state-from-file global`). Pure.
 *
 * A freshly loaded HAProxy assumes every enabled server is UP until a check fails, so without this a
 * server known to be DOWN would take requests again for a moment after each reload. Only that fact is
 * carried: rows of servers that were DOWN and whose slot still holds the same address and port and is
 * enabled in the new config, with the administrative state reset to "none" so the new config decides it.
 * Everything else (addresses, ports, weights, maintenance) comes from the rendered config alone.
 */
export interface Placement {
  /** `backend/server` → where the new config points that enabled slot. */
  enabled: Map<string, { addr: string; port: number }>;
}

export const EMPTY_SERVER_STATE = '1\n';

export function carryDownServers(stateText: string, placement: Placement): string {
  const lines = stateText.split('\n');
  const header = lines.find((l) => l.startsWith('# be_id'));
  if (!lines[0] || lines[0].trim() !== '1' || !header) return EMPTY_SERVER_STATE;
  const cols = header.slice(2).trim().split(/\s+/);
  const at = (name: string): number => cols.indexOf(name);
  const [iBe, iSrv, iAddr, iOp, iAdmin, iPort] = ['be_name', 'srv_name', 'srv_addr', 'srv_op_state', 'srv_admin_state', 'srv_port'].map(at);
  if ([iBe, iSrv, iAddr, iOp, iAdmin, iPort].some((i) => i === undefined || i < 0)) return EMPTY_SERVER_STATE;
  const kept: string[] = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const f = line.trim().split(/\s+/);
    if (f.length !== cols.length) continue;
    const where = placement.enabled.get(`${f[iBe!]}/${f[iSrv!]}`);
    if (!where || f[iAddr!] !== where.addr || Number(f[iPort!]) !== where.port) continue;
    if (f[iOp!] !== '0') continue; // 0 = SRV_ST_STOPPED (DOWN)
    f[iAdmin!] = '0';
    kept.push(f.join(' '));
  }
  return ['1', header, ...kept].join('\n') + '\n';
}

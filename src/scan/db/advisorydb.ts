/**
 * One opened advisory database: the records of a stored `advisories.jsonl.gz`, indexed once in memory by
 * ecosystem + package name so the matcher's `lookup` is a map read. Names compare exactly, except PyPI's, which
 * are normalized as PEP 503 says (lowercase, runs of `-`, `_`, `.` become one `-`).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { PleacoError } from '../../errors.js';
import type { AdvisoryLookup, OsvRecord } from '../../model/index.js';
import { validateRecord } from './load.js';

/** The name as the index keys it: PEP 503 for PyPI, unchanged elsewhere. */
export function normalizeName(ecosystem: string, name: string): string {
  return ecosystem === 'PyPI' ? name.toLowerCase().replace(/[-_.]+/g, '-') : name;
}

const key = (ecosystem: string, name: string): string => `${ecosystem}\0${normalizeName(ecosystem, name)}`;

export class AdvisoryDb implements AdvisoryLookup {
  private readonly index = new Map<string, OsvRecord[]>();
  private readonly byId = new Map<string, OsvRecord>();

  constructor(readonly digest: string, records: Iterable<OsvRecord>) {
    for (const r of records) {
      this.byId.set(r.id, r);
      const seen = new Set<string>();
      for (const a of r.affected ?? []) {
        if (!a.package) continue;
        const k = key(a.package.ecosystem, a.package.name);
        if (seen.has(k)) continue; // one record once per package, however many entries name it
        seen.add(k);
        const list = this.index.get(k);
        if (list) list.push(r);
        else this.index.set(k, [r]);
      }
    }
  }

  /** Records with an affected entry for exactly this ecosystem and (normalized) name; sorted by id. */
  lookup(ecosystem: string, name: string): OsvRecord[] {
    return this.index.get(key(ecosystem, name))?.slice() ?? [];
  }

  get(id: string): OsvRecord | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Reads a stored `advisories.jsonl.gz` (one record per line, sorted by id) and indexes it. */
  static async read(digest: string, path: string): Promise<AdvisoryDb> {
    return new AdvisoryDb(digest, await readJsonl(path));
  }
}

/** Parses a canonical jsonl.gz; a line that is not a valid record, or out of id order, means a corrupt file. */
export async function readJsonl(path: string, signal?: AbortSignal): Promise<OsvRecord[]> {
  const records: OsvRecord[] = [];
  const input = createReadStream(path).pipe(createGunzip());
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  let last = '';
  try {
    for await (const line of lines) {
      n++;
      if (n % 4096 === 0) signal?.throwIfAborted();
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch {
        throw new PleacoError('bad_request', `advisory database line ${n} is not JSON`);
      }
      const bad = validateRecord(rec);
      if (bad) throw new PleacoError('bad_request', `advisory database line ${n}: ${bad}`);
      const id = (rec as OsvRecord).id;
      if (n > 1 && !(id > last)) throw new PleacoError('bad_request', `advisory database line ${n}: ids are not sorted and unique`);
      last = id;
      records.push(rec as OsvRecord);
    }
  } catch (err) {
    if (err instanceof PleacoError) throw err;
    if (signal?.aborted) throw err;
    throw new PleacoError('bad_request', `advisory database is unreadable: ${(err as Error).message}`, { cause: err });
  } finally {
    lines.close();
    input.destroy();
  }
  return records;
}

/** Soft state (request rates, in-flight counts, load): in memory with a time to live, never persisted. */
/** Soft state: values with a time to live, kept in memory only and never persisted. */
export class SoftState<T = unknown> {
  private readonly values = new Map<string, { value: T; expires: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  set(key: string, value: T, ttlMs: number): void {
    this.values.set(key, { value, expires: this.now() + ttlMs });
  }

  get(key: string): T | undefined {
    const v = this.values.get(key);
    if (!v) return undefined;
    if (v.expires <= this.now()) {
      this.values.delete(key);
      return undefined;
    }
    return v.value;
  }

  list(prefix = ''): { key: string; value: T }[] {
    const out: { key: string; value: T }[] = [];
    for (const k of [...this.values.keys()]) {
      const v = k.startsWith(prefix) ? this.get(k) : undefined;
      if (v !== undefined) out.push({ key: k, value: v });
    }
    return out;
  }

  /** How many unexpired values there are (expired ones are dropped on the way). */
  size(): number {
    const now = this.now();
    for (const [k, v] of this.values) if (v.expires <= now) this.values.delete(k);
    return this.values.size;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }
}

/**
 * Lifeguard local health (memberlist's awareness.go): a score in [0, max-1]; failed probes without
 * the expected nacks and refutations raise it, successful probes lower it. Timeouts are scaled by
 * score+1, so a node that is itself slow or losing packets waits longer before accusing others.
 */
export class Awareness {
  private score = 0;

  constructor(private readonly max: number) {}

  /** Adds `delta`, clamped to [0, max-1]. */
  apply(delta: number): void {
    this.score = Math.min(this.max - 1, Math.max(0, this.score + delta));
  }

  /** The current score (0 = healthy). */
  get health(): number {
    return this.score;
  }

  /** `timeoutMs` scaled by the current score. */
  scale(timeoutMs: number): number {
    return timeoutMs * (this.score + 1);
  }
}

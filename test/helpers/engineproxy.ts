/**
 * A unix socket in front of the Docker Engine's, to put the Engine out of reach without touching it (other suites
 * share it): down() closes the socket and cuts every connection (event streams included), up() serves again;
 * wedge() leaves it listening but answering nothing, like a frozen dockerd: new connections are accepted and held,
 * open ones (event and log streams) stop moving in both directions; unwedge() lets everything through again, the
 * held requests included (as a dockerd resumed after SIGSTOP would answer them).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import Docker from 'dockerode';

export const DOCKER_SOCKET = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock';

interface Pair {
  client: net.Socket;
  upstream: net.Socket | null;
}

export class EngineProxy {
  readonly path = `/tmp/pleaco-engine-${randomBytes(3).toString('hex')}-${process.pid}.sock`;
  private server: net.Server | null = null;
  private pairs = new Set<Pair>();
  private wedged = false;

  engine(): Docker {
    return new Docker({ socketPath: this.path });
  }

  async up(): Promise<void> {
    if (existsSync(this.path)) unlinkSync(this.path);
    this.server = net.createServer((client) => {
      const pair: Pair = { client, upstream: null };
      this.pairs.add(pair);
      client.on('error', () => undefined);
      client.on('close', () => {
        pair.upstream?.destroy();
        this.pairs.delete(pair);
      });
      if (this.wedged) client.pause();
      else this.connect(pair);
    });
    await new Promise<void>((r) => this.server!.listen(this.path, r));
  }

  private connect(pair: Pair): void {
    const upstream = net.connect(DOCKER_SOCKET);
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.on('close', () => pair.client.destroy());
    pair.client.pipe(upstream).pipe(pair.client);
    pair.client.resume();
  }

  /** Accepts and holds every connection, answers nothing; open streams freeze. */
  wedge(): void {
    this.wedged = true;
    for (const p of this.pairs) {
      p.client.pause();
      p.upstream?.pause();
    }
  }

  /** Everything moves again; held connections reach the Engine now. */
  unwedge(): void {
    this.wedged = false;
    for (const p of this.pairs) {
      if (p.client.destroyed) continue;
      if (p.upstream) {
        p.upstream.resume();
        p.client.resume();
      } else this.connect(p);
    }
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = null;
    this.wedged = false;
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    if (s) await new Promise((r) => s.close(r));
    if (existsSync(this.path)) unlinkSync(this.path);
  }
}

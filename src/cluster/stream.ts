/**
 * A TCP request/response channel for push-pull state exchange, sealed with the cluster keyring.
 *
 * One exchange per connection, four length-prefixed sealed frames:
 *   1. client → server  hello:     a fresh 16-byte client nonce
 *   2. server → client  challenge: a fresh 16-byte server nonce        (AAD binds the client nonce)
 *   3. client → server  request:   JSON object                        (AAD binds both nonces)
 *   4. server → client  response:  {ok:true, body} | {ok:false, code}  (AAD binds both nonces)
 * The client speaks first and the server writes nothing until a hello opens with a held key, so a port
 * scanner or a peer with the wrong key learns nothing and is cut off (counted as `no_key`). A recorded
 * exchange cannot be replayed: the server's fresh nonce makes every recorded request fail to open in a
 * new exchange (counted as `replayed`), and the client's nonce does the same for recorded responses.
 * This needs no clock, unlike timestamp+nonce-cache schemes, at the price of one extra round trip per
 * exchange (push-pull runs once per 30 s per node by default). Before the hello is proven, frames longer
 * than a hello are refused and the hello must arrive within handshakeTimeoutMs (default 3 s, never longer
 * than idleTimeoutMs; not reset by bytes that arrive meanwhile), so a keyless peer can make the server
 * buffer at most a few dozen bytes, briefly. One remote address may hold at most maxPerAddress connections
 * (default 8; more are closed at once, counted `per_address`), so a single host cannot take every one of the
 * maxConnections slots from the cluster's peers. Each stage has its own AAD label, and TCP frames use a
 * different label from datagrams, so no frame can be passed off as another.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { PleacoError, isPleacoError } from '../errors.js';
import { isSealedShape, SEAL_OVERHEAD } from './crypto.js';
import { decodeBody, encodeBody, isMessage, type Message } from './codec.js';
import { formatHostPort, ipFamily } from './internal/addr.js';
import { FrameReader, frameBytes } from './internal/frames.js';
import { challengeAad, checkMaxFrame, checkTimeout, DEFAULT_MAX_FRAME, exchangeAad, HANDSHAKE_FRAME_LIMIT, helloAad, NONCE_BYTES, type StreamOptions } from './internal/session.js';

export type { StreamOptions, StreamRequestOptions } from './internal/session.js';


export interface StreamServerOptions extends StreamOptions {
  /** Connections served at once; more are closed at once (counted `busy`). Default 64. */
  maxConnections?: number;
  /** Connections one remote address may hold at once; more are closed at once (counted `per_address`). Default 8. */
  maxPerAddress?: number;
  /** A connection's hello must arrive within this (counted `timeout`). Default 3 s, at most idleTimeoutMs. */
  handshakeTimeoutMs?: number;
}


/** Answers one request from a peer ("ip:port"); a throw becomes an error response (its code only, if exposed). */
export type StreamHandler = (from: string, request: Message) => Message | Promise<Message>;

export interface StreamServerCounters {
  connections: number;
  completed: number;
  handler_errors: number;
  bytes_in: number;
  bytes_out: number;
  dropped: { no_key: number; garbled: number; replayed: number; oversize: number; malformed: number; timeout: number; busy: number; per_address: number };
}

type Drop = keyof StreamServerCounters['dropped'];

/** Serves sealed request/response exchanges on one TCP listener. */
export class StreamServer {
  private server: Server | undefined;
  private bound: string | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly maxFrame: number;
  private readonly idleMs: number;
  private readonly maxConnections: number;
  private readonly maxPerAddress: number;
  private readonly handshakeMs: number;
  /** Open connections per remote address (entries removed at 0). */
  private readonly perAddress = new Map<string, number>();
  private readonly c: StreamServerCounters = {
    connections: 0, completed: 0, handler_errors: 0, bytes_in: 0, bytes_out: 0,
    dropped: { no_key: 0, garbled: 0, replayed: 0, oversize: 0, malformed: 0, timeout: 0, busy: 0, per_address: 0 },
  };

  constructor(private readonly handler: StreamHandler, private readonly opts: StreamServerOptions) {
    this.maxFrame = checkMaxFrame(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME);
    this.idleMs = checkTimeout('idleTimeoutMs', opts.idleTimeoutMs ?? 10_000);
    this.maxConnections = opts.maxConnections ?? 64;
    this.maxPerAddress = opts.maxPerAddress ?? 8;
    this.handshakeMs = Math.min(checkTimeout('handshakeTimeoutMs', opts.handshakeTimeoutMs ?? 3_000), this.idleMs);
  }

  /** Listens on an IP literal (port 0: ephemeral) and resolves with the bound "ip:port". */
  async listen(host: string, port: number): Promise<{ address: string; host: string; port: number }> {
    if (this.server) throw new PleacoError('conflict', 'stream server is already listening');
    ipFamily(host);
    const server = createServer((sock) => this.onConnection(sock));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, ipv6Only: true }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      this.server = undefined;
      throw new PleacoError('unavailable', `cannot listen on TCP ${formatHostPort(host, port)}: ${err.message}`, { cause: err });
    });
    server.on('error', () => undefined);
    const info = server.address() as { address: string; port: number };
    this.bound = formatHostPort(info.address, info.port);
    return { address: this.bound, host: info.address, port: info.port };
  }

  /** The bound "ip:port", or undefined before `listen`. */
  address(): string | undefined {
    return this.bound;
  }

  /** A snapshot of the counters. */
  counters(): StreamServerCounters {
    return { ...this.c, dropped: { ...this.c.dropped } };
  }

  /** Stops listening and cuts every open connection. Safe to call twice. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private onConnection(sock: Socket): void {
    this.c.connections++;
    sock.on('error', () => undefined); // a reset peer is its own problem; the outcome is counted below
    if (this.sockets.size >= this.maxConnections) {
      this.c.dropped.busy++;
      sock.destroy();
      return;
    }
    const remote = sock.remoteAddress ?? '';
    if (!this.admit(remote)) {
      this.c.dropped.per_address++;
      sock.destroy();
      return;
    }
    this.sockets.add(sock);
    sock.setNoDelay(true);
    const { keyring } = this.opts;
    const from = formatHostPort(remote, sock.remotePort ?? 0);
    const reader = new FrameReader(HANDSHAKE_FRAME_LIMIT);
    let stage: 'hello' | 'request' | 'handling' | 'done' = 'hello';
    let clientNonce: Buffer = Buffer.alloc(0);
    let serverNonce: Buffer = Buffer.alloc(0);
    const drop = (why: Drop): void => {
      if (stage === 'done') return;
      stage = 'done';
      this.c.dropped[why]++;
      sock.destroy();
    };
    const handshakeTimer = setTimeout(() => stage === 'hello' && drop('timeout'), this.handshakeMs);
    sock.setTimeout(this.idleMs, () => drop('timeout'));
    sock.on('close', () => {
      clearTimeout(handshakeTimer);
      this.sockets.delete(sock);
      this.release(remote);
    });
    const write = (frame: Buffer): void => {
      for (const b of frameBytes(frame)) sock.write(b);
      this.c.bytes_out += 4 + frame.length;
    };

    sock.on('data', (chunk: Buffer) => {
      this.c.bytes_in += chunk.length;
      if (stage === 'done') return;
      reader.push(chunk);
      for (;;) {
        const f = reader.next();
        if (f === null) return;
        if (f === 'oversize') return drop('oversize');
        if (stage === 'hello') {
          if (!isSealedShape(f)) return drop('garbled');
          const plain = keyring.open(f, helloAad());
          if (!plain) return drop('no_key');
          if (plain.length !== NONCE_BYTES) return drop('malformed');
          clientNonce = plain;
          serverNonce = randomBytes(NONCE_BYTES);
          clearTimeout(handshakeTimer);
          write(keyring.seal(serverNonce, challengeAad(clientNonce)));
          reader.limit = this.maxFrame + SEAL_OVERHEAD;
          stage = 'request';
        } else if (stage === 'request') {
          if (!isSealedShape(f)) return drop('garbled');
          const plain = keyring.open(f, exchangeAad('request', clientNonce, serverNonce));
          if (!plain) return drop('replayed');
          const req = decodeBody(plain);
          if (!req) return drop('malformed');
          stage = 'handling';
          sock.setTimeout(0);
          this.answer(from, req, (body) => {
            if (stage !== 'handling') return;
            stage = 'done';
            write(keyring.seal(body, exchangeAad('response', clientNonce, serverNonce)));
            sock.end();
          });
          return;
        } else return drop('malformed'); // nothing may follow the request
      }
    });
  }

  /** Counts a connection from `remote`; false when that address already holds maxPerAddress. */
  private admit(remote: string): boolean {
    const held = this.perAddress.get(remote) ?? 0;
    if (held >= this.maxPerAddress) return false;
    this.perAddress.set(remote, held + 1);
    return true;
  }

  private release(remote: string): void {
    const n = (this.perAddress.get(remote) ?? 1) - 1;
    if (n > 0) this.perAddress.set(remote, n);
    else this.perAddress.delete(remote);
  }

  private answer(from: string, req: Message, reply: (body: Buffer) => void): void {
    const fail = (code: string): void => {
      this.c.handler_errors++;
      reply(encodeBody({ ok: false, code }));
    };
    Promise.resolve()
      .then(() => this.handler(from, req))
      .then(
        (res) => {
          if (!isMessage(res)) return fail('internal');
          const body = encodeBody({ ok: true, body: res });
          if (body.length > this.maxFrame) return fail('payload_too_large');
          this.c.completed++;
          reply(body);
        },
        (err: unknown) => fail(isPleacoError(err) && err.expose ? err.code : 'internal'),
      )
      .catch(() => fail('internal'));
  }
}

export { streamRequest, type StreamFailure } from './internal/client.js';

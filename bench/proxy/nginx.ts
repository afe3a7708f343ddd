/**
 * The nginx processes bench-proxy runs (Debian's nginx, each with its own prefix dir, in the foreground):
 * the static backend, the keep-alive reverse proxy the acceptance compares against, and (informational)
 * nginx as Dokku's default template generates it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Starts `nginx -p <dir>/<name>` with the given config; `cpus` pins it (taskset) when set. */
export function startNginx(dir: string, name: string, conf: string, cpus?: string): ChildProcess {
  const d = join(dir, name);
  mkdirSync(join(d, 'logs'), { recursive: true });
  const file = join(d, 'nginx.conf');
  writeFileSync(file, conf);
  const argv = ['nginx', '-p', d, '-c', file, '-g', 'daemon off;'];
  return cpus ? spawn('taskset', ['-c', cpus, ...argv], { stdio: 'ignore' }) : spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
}

const head = (dir: string, name: string, workers: number): string =>
  `pid ${join(dir, name)}/nginx.pid;\nerror_log stderr error;\nworker_processes ${workers};\nevents { worker_connections 4096; }\n`;

/** The app: one nginx worker serving a static page, keep-alive, no logging (the same for every target). */
export function backendConf(dir: string, port: number, root: string): string {
  return `${head(dir, 'backend', 1)}http {
  access_log off;
  keepalive_requests 100000;
  server { listen 127.0.0.1:${port}; root ${root}; }
}
`;
}

/**
 * nginx doing the same work as pleaco's data plane: route by Host (unknown hosts get 404), keep-alive to
 * the clients and to the app (upstream keepalive, HTTP/1.1, `Connection ""`), X-Forwarded-For added, and no
 * access log, because pleaco's HAProxy logs no requests (its metrics come from HAProxy's stats).
 */
export function keepAliveProxyConf(dir: string, o: { port: number; backend: number; host: string; workers: number }): string {
  return `${head(dir, 'nginx', o.workers)}http {
  access_log off;
  upstream app { server 127.0.0.1:${o.backend}; keepalive 64; }
  server { listen 127.0.0.1:${o.port} default_server; return 404; }
  server {
    listen 127.0.0.1:${o.port};
    server_name ${o.host};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`;
}

/**
 * What Dokku's default nginx.conf.sigil generates for an app (informational): an upstream without
 * `keepalive` (a new connection to the app per request), the client's Connection header passed on,
 * X-Forwarded-* and X-Request-Start headers, and a per-app access log in the default format.
 */
export function dokkuConf(dir: string, o: { port: number; backend: number; host: string; workers: number }): string {
  return `${head(dir, 'dokku', o.workers)}http {
  upstream app-5000 { server 127.0.0.1:${o.backend}; }
  server { listen 127.0.0.1:${o.port} default_server; access_log off; return 404; }
  server {
    listen 127.0.0.1:${o.port};
    server_name ${o.host};
    access_log ${join(dir, 'dokku')}/app-access.log;
    location / {
      proxy_pass http://app-5000;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $http_connection;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-Start $msec;
    }
  }
}
`;
}

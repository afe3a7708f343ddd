import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfigPair, parseReleaseNumber, parseScale, parseVerbArgs, splitVerb, usageLine, UsageError } from '../../src/cli/args.js';
import { findVerb } from '../../src/cli/verbs.js';
import { cli } from './_fake-agent.js';

const neverConnect = () => {
  throw new Error('must not connect for a usage error');
};

function parse(argv: string[]) {
  const { verb, rest } = splitVerb(argv);
  const v = findVerb(verb ?? '');
  if (!v) throw new Error(`no verb ${verb}`);
  return parseVerbArgs(v.name, v, rest);
}

function usageError(fn: () => unknown, match: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, UsageError);
    assert.match((err as Error).message, match);
    return;
  }
  assert.unreachable(`expected a usage error matching ${match}`);
}

test('splitVerb skips global flags and their values', () => {
  assert.equal(splitVerb(['--api', 'http://h:1', 'apps', '--json']), { verb: 'apps', rest: ['--api', 'http://h:1', '--json'] });
  assert.equal(splitVerb(['--no-color', 'ps', 'web']).verb, 'ps');
  assert.equal(splitVerb(['--help']).verb, undefined);
});

test('good input: positionals, flags, --json, global flags anywhere', () => {
  const p = parse(['apps:create', 'web', '--repo', 'https://github.com/acme/web', '--branch=dev', '--api', 'http://127.0.0.1:7070']);
  assert.equal(p.args, ['web']);
  assert.is(p.flags.repo, 'https://github.com/acme/web');
  assert.is(p.flags.branch, 'dev');
  assert.is(p.global.api, 'http://127.0.0.1:7070');
  assert.is(parse(['apps', '--json']).json, true);
  const logs = parse(['logs', 'web', '-f', '-n', '20']);
  assert.is(logs.flags.follow, true);
  assert.is(logs.flags.num, '20');
  assert.is(parse(['deploy', 'web', '--no-follow']).flags['no-follow'], true);
  assert.equal(parse(['config:set', 'web', 'A=1', 'B=x=y']).args, ['web', 'A=1', 'B=x=y']);
  assert.equal(parse(['rollback', 'web']).args, ['web']);
});

test('bad input: missing NAME, missing required flag, extra and unknown arguments', () => {
  usageError(() => parse(['apps:info']), /missing NAME/);
  usageError(() => parse(['apps:create', 'web']), /missing --repo URL/);
  usageError(() => parse(['apps:create', 'web', '--repo']), /--repo/);
  usageError(() => parse(['ps', 'web', 'extra']), /unexpected argument "extra"/);
  usageError(() => parse(['deploy', 'web', '--json']), /Unknown option '--json'/);
  usageError(() => parse(['config:set', 'web']), /missing KEY=VALUE/);
  usageError(() => parse(['builds:info', 'web']), /missing ID/);
});

test('value parsers: scale, config pairs, release numbers', () => {
  assert.equal(parseScale('web=3'), { app: 'web', replicas: 3 });
  assert.equal(parseScale('web=0'), { app: 'web', replicas: 0 });
  usageError(() => parseScale('web=x'), /whole number from 0 to 100, got "x"/);
  usageError(() => parseScale('web=101'), /0 to 100/);
  usageError(() => parseScale('web'), /expected NAME=N/);
  assert.equal(parseConfigPair('URL=postgres://h/db?a=b'), ['URL', 'postgres://h/db?a=b']);
  assert.equal(parseConfigPair('EMPTY='), ['EMPTY', '']);
  usageError(() => parseConfigPair('NOEQUALS'), /expected KEY=VALUE, got "NOEQUALS"/);
  usageError(() => parseConfigPair('=v'), /expected KEY=VALUE/);
  usageError(() => parseConfigPair('1BAD=v'), /invalid config key "1BAD"/);
  assert.is(parseReleaseNumber('v3'), 3);
  assert.is(parseReleaseNumber('12'), 12);
  usageError(() => parseReleaseNumber('v0'), /like v3 or 3/);
  usageError(() => parseReleaseNumber('three'), /like v3 or 3/);
});

test('usage lines come from the declaration', () => {
  assert.is(usageLine('apps:create', findVerb('apps:create')!), 'apps:create NAME --repo URL [--branch B]');
  assert.is(usageLine('logs', findVerb('logs')!), 'logs NAME [-f] [-n N]');
  assert.is(usageLine('deploy', findVerb('deploy')!), 'deploy NAME [--ref R] [--no-follow]');
});

test('run(): usage errors exit 2 with a hint, before connecting', async () => {
  const cases: [string[], RegExp, string][] = [
    [['apps:info'], /^error: missing NAME$/, 'pleaco help apps:info'],
    [['ps:scale', 'web=x'], /replicas must be a whole number/, 'pleaco help ps:scale'],
    [['config:set', 'web', 'NOEQUALS'], /expected KEY=VALUE, got "NOEQUALS"/, 'pleaco help config:set'],
    [['rollback', 'web', 'vX'], /like v3 or 3/, 'pleaco help rollback'],
    [['logs', 'web', '-n', '0'], /-n must be a whole number/, 'pleaco help logs'],
    [['deploi', 'web'], /unknown verb "deploi"; did you mean deploy\?/, 'pleaco help'],
    [['--api', 'http://x'], /missing VERB/, 'pleaco help'],
  ];
  for (const [argv, msg, hint] of cases) {
    const r = await cli(argv, neverConnect);
    assert.is(r.code, 2, argv.join(' '));
    assert.match(r.err[0] ?? '', msg);
    assert.ok(r.stderr.includes(`See \`${hint}\``), r.stderr);
    assert.is(r.stdout, '');
  }
});

test('run(): help, verb --help and version work without a node', async () => {
  const all = await cli(['help'], neverConnect);
  assert.is(all.code, 0);
  assert.match(all.stdout, /apps:create NAME --repo URL \[--branch B\]\s+Create an app/);
  const one = await cli(['deploy', '--help'], neverConnect);
  assert.is(one.code, 0);
  assert.match(one.out[0] ?? '', /^Usage: pleaco deploy NAME \[--ref R\] \[--no-follow\]$/);
  assert.is((await cli([], neverConnect)).code, 0);
  const bad = await cli(['help', 'nope'], neverConnect);
  assert.is(bad.code, 2);
  const v = await cli(['--version'], neverConnect);
  assert.is(v.code, 0);
  assert.match(v.out[0] ?? '', /^pleaco 0\.0\.0-test/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAppConfig, readAppConfig, resolvePort, resolveTestCommand, firstExposedTcpPort } from '../../src/builder/appconfig.js';
import { PleacoError } from '../../src/errors.js';

const valid: [string, string, object][] = [
  ['pleaco.json', '{"test":"npm test","port":8080,"healthcheck":"/health"}', { test: 'npm test', port: 8080, healthcheck: '/health' }],
  ['pleaco.json', '{}', {}],
  ['pleaco.json', '', {}],
  ['pleaco.yaml', 'test: make check\nport: 3000\n', { test: 'make check', port: 3000 }],
  ['pleaco.yml', '# only a comment\n', {}],
  ['pleaco.yaml', 'test: |\n  set -e\n  ./run-tests\n', { test: 'set -e\n  ./run-tests'.replace('\n  ', '\n') }],
  ['pleaco.yaml', 'healthcheck: /ready?full=1\n', { healthcheck: '/ready?full=1' }],
];

for (const [file, text, want] of valid) {
  test(`valid ${file}: ${JSON.stringify(text).slice(0, 50)}`, () => {
    assert.equal(parseAppConfig(file, text), want);
  });
}

const invalid: [string, string, RegExp][] = [
  ['pleaco.json', '{"tests":"npm test"}', /^pleaco\.json: unknown key "tests" \(allowed: test, port, healthcheck, autoscale\)$/],
  ['pleaco.json', '{"port":"8080"}', /^pleaco\.json: key "port" must be an integer from 1 to 65535, got "8080"$/],
  ['pleaco.json', '{"port":70000}', /key "port" must be an integer/],
  ['pleaco.json', '{"port":80.5}', /key "port" must be an integer/],
  ['pleaco.json', '{"test":""}', /^pleaco\.json: key "test" must be a non-empty string/],
  ['pleaco.json', '{"test":["npm","test"]}', /key "test" must be a non-empty string/],
  ['pleaco.json', '{"healthcheck":"health"}', /key "healthcheck" must be an HTTP path starting with \//],
  ['pleaco.json', '[1,2]', /^pleaco\.json: the top level must be a mapping/],
  ['pleaco.json', '"npm test"', /the top level must be a mapping/],
  ['pleaco.json', '{"test": "npm test",}', /^pleaco\.json: not valid JSON: /],
  ['pleaco.yaml', 'test: [unclosed\n', /^pleaco\.yaml: not valid YAML: /],
  ['pleaco.yaml', 'test: a\ntest: b\n', /^pleaco\.yaml: not valid YAML: .*[Mm]ap keys must be unique/],
  ['pleaco.yml', 'port: eighty\n', /^pleaco\.yml: key "port" must be an integer/],
  ['pleaco.yml', '- test\n', /the top level must be a mapping/],
  ['pleaco.yaml', `test: "${'x'.repeat(70 * 1024)}"\n`, /larger than 64 KiB/],
];

for (const [file, text, re] of invalid) {
  test(`invalid ${file}: ${JSON.stringify(text).slice(0, 50)}`, () => {
    try {
      parseAppConfig(file, text);
      assert.unreachable('should throw');
    } catch (err) {
      assert.instance(err, PleacoError);
      assert.is((err as PleacoError).code, 'invalid_config');
      assert.is((err as PleacoError).status, 400);
      assert.match((err as PleacoError).message, re);
    }
  });
}

test('autoscale in pleaco.json/yaml: a policy with its defaults; a bad one is refused with the file and key named', () => {
  assert.equal(parseAppConfig('pleaco.json', '{"autoscale": {"max": 10, "targetRps": 50}}').autoscale, { min: 1, max: 10, targetRps: 50, windowS: 300 });
  assert.equal(parseAppConfig('pleaco.yaml', 'autoscale:\n  min: 0\n  max: 4\n  targetConcurrency: 20\n  windowS: 60\n').autoscale, { min: 0, max: 4, targetConcurrency: 20, windowS: 60 });
  for (const [text, re] of [
    ['{"autoscale": {"max": 10}}', /pleaco\.json: key "autoscale": autoscale needs a target/],
    ['{"autoscale": {"min": 5, "max": 2, "targetRps": 1}}', /key "autoscale": autoscale min \(5\) must not be above max \(2\)/],
    ['{"autoscale": 3}', /key "autoscale": the autoscale policy must be an object/],
  ] as const) {
    try {
      parseAppConfig('pleaco.json', text);
      assert.unreachable(`accepted ${text}`);
    } catch (err) {
      assert.instance(err, PleacoError);
      assert.match((err as Error).message, re);
    }
  }
});

test('readAppConfig: none, one, or more than one file', async () => {
  const repo = (files: Record<string, string>) => async (p: string) => (p in files ? Buffer.from(files[p]!) : null);
  assert.equal(await readAppConfig(repo({})), { file: null, config: {} });
  assert.equal(await readAppConfig(repo({ 'pleaco.yml': 'port: 81' })), { file: 'pleaco.yml', config: { port: 81 } });
  try {
    await readAppConfig(repo({ 'pleaco.json': '{}', 'pleaco.yaml': 'port: 1' }));
    assert.unreachable('should throw');
  } catch (err) {
    assert.is((err as PleacoError).code, 'invalid_config');
    assert.match((err as PleacoError).message, /^pleaco\.json and pleaco\.yaml: more than one app config file; keep one$/);
  }
});

test('test command precedence: app spec > repo file > none', () => {
  assert.is(resolveTestCommand({ testCommand: 'make spec' }, { test: 'make file' }), 'make spec');
  assert.is(resolveTestCommand({}, { test: 'make file' }), 'make file');
  assert.is(resolveTestCommand({ testCommand: '  ' }, { test: 'make file' }), 'make file');
  assert.is(resolveTestCommand({}, {}), null);
});

test('port precedence: app spec > repo file > EXPOSE (lowest tcp) > default', () => {
  const exposed = { '9000/tcp': {}, '53/udp': {}, '8080/tcp': {} };
  assert.equal(resolvePort({ port: 1234 }, { port: 4321 }, exposed, 5000), { port: 1234, source: 'app' });
  assert.equal(resolvePort({}, { port: 4321 }, exposed, 5000), { port: 4321, source: 'file' });
  assert.equal(resolvePort({}, {}, exposed, 5000), { port: 8080, source: 'expose' });
  assert.equal(resolvePort({}, {}, { '53/udp': {} }, 5000), { port: 5000, source: 'default' });
  assert.equal(resolvePort({}, {}, undefined, 5000), { port: 5000, source: 'default' });
  assert.is(firstExposedTcpPort({ '3000': {} }), 3000);
  assert.is(firstExposedTcpPort(null), null);
});

test.run();

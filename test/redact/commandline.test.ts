// Passwords on command lines, in the forms people type them, are redacted; flags that only look
// alike (a port after -p, a password file, a secret read from a file or a variable) are not.
// Through the real CLI: `rampart redact` for logs, `rampart scan` for files.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Redactor } from '../../src/redact/engine.js';
import { rampart } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const PW = 'Summer2024';
const LOW = 'hunter2'; // a password that measures like a word: still a password

const SECRET_LINES = [
  `mysql -h db -u root -p${PW} app`,
  `mysqldump -u root -p${PW} prod > dump.sql`,
  `mariadb -uroot -p${LOW} -e 'select 1'`,
  `sshpass -p ${PW} ssh deploy@host`,
  `sshpass -f /dev/null -p${PW} scp a host:b`,
  `app --password ${LOW}`,
  `app --password=${LOW}`,
  `app --password "${PW}"`,
  `PGPASSWORD=${PW} psql -h db -U app`,
  `MYSQL_PWD=${LOW} mysql -u root`,
  `REDISCLI_AUTH=${PW} redis-cli ping`,
  `redis-cli -h cache -a ${PW} ping`,
  `curl -u admin:${PW} https://internal/api`,
  `curl --user admin:${LOW} https://internal/api`,
  `{"cmd":"x\\nmysql -p${PW} db"}`,
];

const NOT_SECRETS = [
  'docker run -p 8080:80 app',
  'ssh -p 2222 host',
  'mysql -p mydb',
  'mysql -u root -p',
  'sshpass -f /run/secrets/ssh ssh -p 2222 host',
  'app --password-file /run/secrets/db-password',
  'app --password-stdin < /run/secrets/db-password',
  'mysql --password="$(cat /run/secrets/db-password)"',
  'mysql -p$(cat /run/secrets/db-password) db',
  'PGPASSWORD=$PGPASS psql',
  'PGPASSWORD="${DB_PASSWORD}" psql',
  'redis-cli -a $REDIS_PASSWORD ping',
  'curl -u admin:$TOKEN https://x',
  'curl -u "admin:$(cat /run/secrets/api)" https://x',
  'tar -cpf out.tar dir',
];

describe('passwords on command lines', () => {
  const r = new Redactor();
  const tmp = tempDir();
  after(() => tmp.cleanup());

  it('redacts each form, whatever the password measures', () => {
    for (const line of SECRET_LINES) {
      const out = r.redact(line).text;
      assert.ok(!out.includes(PW) && !out.includes(LOW), `${line} => ${out}`);
    }
  });

  it('leaves ports, password files and references alone', () => {
    for (const line of NOT_SECRETS) assert.equal(r.redact(line).text, line, line);
  });

  it('through `rampart redact` and `rampart scan`', () => {
    const input = SECRET_LINES.join('\n') + '\n' + NOT_SECRETS.join('\n') + '\n';
    const red = rampart(['redact'], { cwd: tmp.dir, input });
    assert.equal(red.code, 0, red.stderr);
    assert.ok(!red.stdout.includes(PW) && !red.stdout.includes(LOW), red.stdout);
    for (const line of NOT_SECRETS) assert.ok(red.stdout.includes(line), line);
    const file = join(tmp.dir, 'deploy.sh');
    writeFileSync(file, input);
    const scan = rampart(['scan', '--format', 'json', file], { cwd: tmp.dir });
    assert.equal(scan.code, 1, scan.stderr);
    const lines = (JSON.parse(scan.stdout) as { findings: { location: { line: number } }[] }).findings.map(
      (f) => f.location.line,
    );
    assert.deepEqual(
      [...new Set(lines)].sort((a, b) => a - b),
      SECRET_LINES.map((_, i) => i + 1),
    );
  });
});

// The address guard against every spelling of the addresses an agent must never reach, and the
// host-pattern matcher. Good/bad pairs: each blocked spelling next to a public address that
// must pass, so a guard that refused everything would fail too.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressGuard, numericHost, parseIPv4Loose } from '../../src/egress/address.js';
import { HostMatcher, HOST_LISTS, normalizeHost } from '../../src/egress/hosts.js';

const guard = new AddressGuard();
const verdict = (host: string): { allowed: boolean; reason: string } => {
  const a = numericHost(host);
  assert.ok(a, `${host} parses as an address`);
  return guard.check(a);
};

describe('address guard', () => {
  it('reads a dotted quad on its fast path exactly as the general parser does, and checks it the same', () => {
    // Boundaries of every blocked IPv4 range, and random addresses: the fast path (Numbers) and
    // the general one (BigInt) must agree on the value and on the verdict.
    const edges = [
      '0.0.0.0',
      '9.255.255.255',
      '10.0.0.0',
      '100.63.255.255',
      '100.64.0.0',
      '100.127.255.255',
      '100.128.0.0',
      '126.255.255.255',
      '127.0.0.0',
      '128.0.0.0',
      '169.253.255.255',
      '169.254.0.0',
      '172.15.255.255',
      '172.16.0.0',
      '172.31.255.255',
      '172.32.0.0',
      '192.167.255.255',
      '192.168.0.0',
      '223.255.255.255',
      '224.0.0.0',
      '255.255.255.255',
    ];
    const rnd = Array.from({ length: 2000 }, () =>
      Array.from({ length: 4 }, () => Math.floor(Math.random() * 256)).join('.'),
    );
    for (const h of [...edges, ...rnd]) {
      const a = numericHost(h)!;
      assert.equal(a.value, parseIPv4Loose(h), h);
      assert.equal(a.text, h);
      const slow = { family: 4 as const, value: parseIPv4Loose(h)!, text: h };
      assert.deepEqual(guard.check(a), guard.check(slow), h);
    }
    // Not a canonical quad: leading zeros are octal, so these take the general path.
    assert.equal(numericHost('010.0.0.1')?.text, '8.0.0.1');
    assert.equal(numericHost('256.0.0.1'), undefined);
  });

  it('refuses 127.0.0.1 in every spelling', () => {
    for (const h of [
      '127.0.0.1',
      '127.1',
      '127.0.1',
      '2130706433',
      '0x7f000001',
      '0x7f.1',
      '0177.0.0.1',
      '0177.1',
      '017700000001',
      '127.0.0.1.',
      '127.255.255.254',
      '[::1]',
      '[::ffff:127.0.0.1]',
      '[::ffff:7f00:1]',
      '[64:ff9b::7f00:1]',
      '[2002:7f00:1::]',
      '[::127.0.0.1]',
    ]) {
      const v = verdict(h);
      assert.equal(v.allowed, false, h);
    }
    assert.match(verdict('[::ffff:7f00:1]').reason, /127\.0\.0\.1 \(embedded in ::ffff:7f00:1\) is loopback/);
  });

  it('refuses 169.254.169.254 (cloud metadata) in every spelling', () => {
    for (const h of [
      '169.254.169.254',
      '2852039166',
      '0xa9fea9fe',
      '0251.0376.0251.0376',
      '169.254.43518',
      '0xa9.0xfe.0xa9.0xfe',
      '[::ffff:169.254.169.254]',
      '[::ffff:a9fe:a9fe]',
      '[64:ff9b::a9fe:a9fe]',
      '[fe80::1]',
    ]) {
      assert.equal(verdict(h).allowed, false, h);
    }
  });

  it('refuses private, CGNAT, multicast, unspecified, reserved, ULA, Teredo and 6to4', () => {
    for (const h of [
      '10.0.0.1',
      '172.16.5.4',
      '172.31.255.255',
      '192.168.1.1',
      '100.64.0.1',
      '100.127.255.255',
      '224.0.0.1',
      '239.255.255.250',
      '0.0.0.0',
      '0',
      '255.255.255.255',
      '240.0.0.1',
      '[::]',
      '[fd00::1]',
      '[ff02::1]',
      '[2001:0:4136:e378:8000:63bf:3fff:fdd2]',
      '[2002:0808:0808::1]',
    ]) {
      assert.equal(verdict(h).allowed, false, h);
    }
  });

  it('lets public addresses through (the other half of each pair)', () => {
    for (const h of [
      '1.1.1.1',
      '140.82.112.3',
      '172.32.0.1',
      '100.128.0.1',
      '8.8.8.8',
      '[2606:4700::1111]',
    ]) {
      assert.deepEqual(verdict(h), { allowed: true, reason: 'public address' }, h);
    }
  });

  it('opens only the ranges an operator allows, and bans beat allows', () => {
    const g = new AddressGuard(['10.20.0.0/16'], ['192.0.2.10']);
    assert.equal(g.check(numericHost('10.20.1.2')!).allowed, true);
    assert.equal(g.check(numericHost('10.21.1.2')!).allowed, false);
    g.ban('10.20.1.0/24');
    assert.match(g.check(numericHost('10.20.1.2')!).reason, /banned/);
    assert.equal(g.check(numericHost('10.20.2.2')!).allowed, true);
    g.ban('1.1.1.1');
    assert.equal(g.check(numericHost('1.1.1.1')!).allowed, false);
    assert.equal(g.check(numericHost('[::ffff:1.1.1.1]')!).allowed, false);
    assert.equal(g.unban('1.1.1.1'), true);
    assert.equal(g.check(numericHost('1.1.1.1')!).allowed, true);
    assert.throws(() => new AddressGuard(['10.0.0.0/33']), /not a CIDR/);
    assert.throws(() => new AddressGuard(['example.com/8']), /not a CIDR/);
  });

  it('parses like inet_aton and rejects what is not an address', () => {
    assert.equal(parseIPv4Loose('1.2.3.4'), 0x01020304n);
    assert.equal(parseIPv4Loose('1.2.772'), 0x01020304n);
    assert.equal(parseIPv4Loose('1.2.3.256'), undefined);
    assert.equal(parseIPv4Loose('4294967296'), undefined);
    assert.equal(parseIPv4Loose('08.0.0.1'), undefined, 'not octal, not decimal');
    assert.equal(numericHost('example.com'), undefined);
    assert.equal(numericHost('1.2.3.example'), undefined);
    assert.equal(numericHost('[fe80::1%eth0]'), undefined);
    assert.equal(numericHost('1.2.3.4.5'), undefined);
  });
});

describe('host patterns', () => {
  const m = new HostMatcher([
    { pattern: 'github.com:443,22', source: 'a' },
    { pattern: '*.githubusercontent.com:443', source: 'b' },
    { pattern: 'Example.ORG', source: 'c' },
  ]);
  it('matches exact hosts with their ports, wildcards for subdomains only', () => {
    assert.equal(m.match('github.com', 443)?.source, 'a');
    assert.equal(m.match('github.com', 22)?.source, 'a');
    assert.equal(m.match('github.com', 80), undefined);
    assert.equal(m.match('raw.githubusercontent.com', 443)?.source, 'b');
    assert.equal(m.match('a.b.githubusercontent.com', 443)?.source, 'b');
    assert.equal(m.match('githubusercontent.com', 443), undefined, 'the apex is not a subdomain');
    assert.equal(m.match('evilgithubusercontent.com', 443), undefined);
    assert.equal(m.match('example.org', 8080)?.source, 'c');
    assert.equal(m.match('github.com.evil.io', 443), undefined);
  });
  it('normalizes names and refuses malformed patterns', () => {
    assert.equal(normalizeHost('GitHub.COM.'), 'github.com');
    assert.equal(normalizeHost('a b.com'), undefined);
    assert.throws(() => new HostMatcher([{ pattern: 'git*hub.com', source: 'x' }]), /not a host pattern/);
    assert.throws(() => new HostMatcher([{ pattern: 'a.com:70000', source: 'x' }]), /port out of range/);
    for (const [name, list] of Object.entries(HOST_LISTS))
      assert.ok(new HostMatcher(list.map((pattern) => ({ pattern, source: name }))).size > 0);
  });
});

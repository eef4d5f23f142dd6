import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CompactRange,
  EMPTY_ROOT,
  consistencyRanges,
  decompose,
  foldRange,
  inclusionRanges,
  leafHash,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../../src/core/merkle.js';
import { MemoryTree } from '../../src/audit/proofs.js';

// RFC 6962 test data as published by transparency-dev/merkle (testonly/constants.go and
// proof/verify_test.go): the eight reference leaves, every root, and known proofs.
const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(hex);
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
].map(hex);
const NODES = [
  [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
    '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
    'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
    '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
  ],
  [
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
    'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
  ],
  [
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
  ],
  ['5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'],
];
// Leaf numbers in these vectors are 1-based, as in the Go source.
const INCLUSION: [number, number, string[]][] = [
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [3, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    2,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
const CONSISTENCY: [number, number, string[]][] = [
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [
    2,
    5,
    [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
  [
    6,
    7,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
];

const hashes = LEAVES.map((l) => leafHash(l));
const treeOf = (leaves: Buffer[]): MemoryTree => new MemoryTree(Buffer.concat(leaves));
const consistencyProof = (leaves: Buffer[], m: number, n: number): Buffer[] => {
  const t = treeOf(leaves.slice(0, n));
  return consistencyRanges(m, n).map(([a, b]) =>
    foldRange(decompose(a, b).map((r) => t.node(r.level, r.index))),
  );
};

describe('RFC 6962 Merkle tree', () => {
  it('matches the reference root for every size 0..8', () => {
    assert.ok(EMPTY_ROOT.equals(ROOTS[0]!));
    for (let n = 0; n <= 8; n++) assert.ok(rootOf(hashes.slice(0, n)).equals(ROOTS[n]!), `size ${n}`);
  });

  it('compact range reports every reference node and the same roots', () => {
    const range = new CompactRange();
    const seen: string[][] = [[], [], [], []];
    for (let i = 0; i < 8; i++) {
      range.append(hashes[i]!, (level, index, hash) => {
        seen[level]![index] = hash.toString('hex');
      });
      assert.ok(range.root().equals(ROOTS[i + 1]!));
      // A range rebuilt from its persisted frontier gives the same root.
      assert.ok(new CompactRange(range.size, range.frontier).root().equals(ROOTS[i + 1]!));
    }
    assert.deepEqual(seen, NODES);
  });

  it('produces and verifies the reference inclusion proofs', () => {
    for (const [leaf, size, proof] of INCLUSION) {
      const t = treeOf(hashes.slice(0, size));
      assert.deepEqual(
        t.inclusion(leaf - 1).map((p) => p.toString('hex')),
        proof,
        `leaf ${leaf} size ${size}`,
      );
      assert.ok(verifyInclusion(leaf - 1, size, hashes[leaf - 1]!, proof.map(hex), ROOTS[size]!));
    }
  });

  it('produces and verifies the reference consistency proofs', () => {
    for (const [m, n, proof] of CONSISTENCY) {
      assert.deepEqual(
        consistencyProof(hashes, m, n).map((p) => p.toString('hex')),
        proof,
        `${m} -> ${n}`,
      );
      assert.ok(verifyConsistency(m, n, proof.map(hex), ROOTS[m]!, ROOTS[n]!));
    }
  });

  it('rejects corrupted inclusion proofs (the transparency-dev probes)', () => {
    const some = hex('abacaba000000000000000000000000000000000000000000060061e00123456');
    for (const [leaf, size, proofHex] of INCLUSION) {
      const i = leaf - 1;
      const proof = proofHex.map(hex);
      const root = ROOTS[size]!;
      const lh = hashes[i]!;
      const probes: [number, number, Buffer, Buffer[], Buffer][] = [
        [i - 1, size, lh, proof, root],
        [i + 1, size, lh, proof, root],
        [i ^ 2, size, lh, proof, root],
        [i, size * 2, lh, proof, root],
        [i, Math.floor(size / 2), lh, proof, root],
        [i, size, Buffer.from('WrongLeaf'), proof, root],
        [i, size, lh, proof, EMPTY_ROOT],
        [i, size, lh, proof, some],
        [i, size, lh, [...proof, Buffer.alloc(0)], root],
        [i, size, lh, [...proof, root], root],
        [i, size, lh, [Buffer.alloc(0), ...proof], root],
        [i, size, lh, [root, ...proof], root],
      ];
      proof.forEach((_, k) => {
        const p = proof.map((x) => Buffer.from(x));
        p[k]![0]! ^= 8;
        probes.push([i, size, lh, p, root]);
      });
      if (proof.length > 0) probes.push([i, size, lh, proof.slice(0, -1), root]);
      if (proof.length > 1) probes.push([i, size, lh, [proof[0]!, some, ...proof.slice(1)], root]);
      for (const [pi, ps, pl, pp, pr] of probes) {
        if (pi === i && ps === size && pl === lh && pp === proof && pr === root) continue;
        assert.equal(verifyInclusion(pi, ps, pl, pp, pr), false, `probe ${pi}/${ps} must fail`);
      }
    }
  });

  it('rejects corrupted consistency proofs', () => {
    for (const [m, n, proofHex] of CONSISTENCY) {
      const proof = proofHex.map(hex);
      const r1 = ROOTS[m]!;
      const r2 = ROOTS[n]!;
      const bad: [number, number, Buffer[], Buffer, Buffer][] = [
        [m - 1, n, proof, r1, r2],
        [m + 1, n, proof, r1, r2],
        [m ^ 2, n, proof, r1, r2],
        [m, n * 2, proof, r1, r2],
        [m, Math.floor(n / 2), proof, r1, r2],
        [m, n, proof, Buffer.from('WrongRoot'), r2],
        [m, n, proof, r1, Buffer.from('WrongRoot')],
        [m, n, proof, r2, r1],
        [m, n, [], r1, r2],
        [m, n, [...proof, r1], r1, r2],
        [m, n, [r2, ...proof], r1, r2],
        [m, n, proof.slice(0, -1), r1, r2],
      ];
      proof.forEach((_, k) => {
        const p = proof.map((x) => Buffer.from(x));
        p[k]![0]! ^= 16;
        bad.push([m, n, p, r1, r2]);
      });
      for (const [a, b, p, x, y] of bad) assert.equal(verifyConsistency(a, b, p, x, y), false, `${a}->${b}`);
    }
    // The trivial cases.
    assert.ok(verifyConsistency(0, 5, [], EMPTY_ROOT, ROOTS[5]!));
    assert.ok(verifyConsistency(4, 4, [], ROOTS[4]!, ROOTS[4]!));
    assert.equal(verifyConsistency(4, 4, [], ROOTS[4]!, ROOTS[5]!), false);
    assert.equal(verifyConsistency(5, 4, [], ROOTS[5]!, ROOTS[4]!), false);
  });

  it('every proof verifies in every tree shape up to 70 leaves (property)', () => {
    const many = Array.from({ length: 70 }, (_, i) => leafHash(`leaf ${i}`));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), fc.nat(), (n, a, b) => {
        const t = treeOf(many.slice(0, n));
        const root = rootOf(many.slice(0, n));
        const i = a % n;
        if (!verifyInclusion(i, n, many[i]!, t.inclusion(i), root)) return false;
        const m = b % (n + 1);
        return verifyConsistency(m, n, consistencyProof(many, m, n), rootOf(many.slice(0, m)), root);
      }),
      { numRuns: 400 },
    );
  });

  it('decomposes every range into aligned complete subtrees whose fold is the range root', () => {
    const many = Array.from({ length: 37 }, (_, i) => leafHash(`x${i}`));
    const t = treeOf(many);
    const ranges: [number, number][] = [];
    for (let n = 1; n <= 37; n++) {
      for (let i = 0; i < n; i++) ranges.push(...inclusionRanges(i, n));
      for (let m = 0; m <= n; m++) ranges.push(...consistencyRanges(m, n));
    }
    for (const [a, b] of ranges) {
      const refs = decompose(a, b);
      assert.ok(
        foldRange(refs.map((r) => t.node(r.level, r.index))).equals(rootOf(many.slice(a, b))),
        `${a}..${b}`,
      );
    }
    assert.throws(() => decompose(1, 5), RangeError);
    assert.ok(nodeHash(hashes[0]!, hashes[1]!).equals(ROOTS[2]!));
    assert.throws(() => inclusionRanges(5, 5), RangeError);
  });
});

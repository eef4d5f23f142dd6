// The keyword automaton's inner loop as a few dozen bytes of WebAssembly. The loop is one byte
// load, two table loads and a sign test per input byte; in V8's JavaScript it runs at about
// 4 ns/byte, as WebAssembly at about 1 ns/byte, and redaction throughput is bounded by it.
//
// The module is assembled here, at run time, from the automaton's tables (their offsets are baked
// into the load instructions), so there is no build step and no binary file to trust. The plain
// JavaScript scanner (KeywordAutomaton.scanBytesInto) stays the reference: a property test checks
// that both report the same hits on random input.
//
//   scan(i, to, s) -> i32:  runs the DFA over input[i, to) from state offset s; returns `to` when
//                           done, or the position of a byte that entered an accepting state, with
//                           that state's offset in the exported global `state`.

const PAGE = 65536;

// The few WebAssembly JS-API types used here (Node has the API; @types/node 20 does not declare it).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmGlobal {
  value: unknown;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

export interface WasmTables {
  /** byte -> class * 4 (so the class indexes an i32 row directly). */
  readonly classes4: Int32Array;
  /** Row-major transitions as byte offsets into the delta table, negated for accepting states. */
  readonly delta4: Int32Array;
}

export class WasmScanner {
  private readonly exports: {
    scan: (i: number, to: number, s: number) => number;
    state: WasmGlobal;
    mem: WasmMemory;
  };
  private readonly inputOffset: number;
  private view: Uint8Array;

  constructor(tables: WasmTables) {
    const classesAt = 0;
    const deltaAt = 1024;
    this.inputOffset = align(deltaAt + tables.delta4.length * 4, PAGE);
    const bytes = assemble(classesAt, deltaAt, this.inputOffset, this.inputOffset / PAGE + 16);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    this.exports = instance.exports as unknown as WasmScanner['exports'];
    const mem = new Int32Array(this.exports.mem.buffer);
    mem.set(tables.classes4, classesAt / 4);
    mem.set(tables.delta4, deltaAt / 4);
    this.view = new Uint8Array(this.exports.mem.buffer);
  }

  /** Copies `bytes` into the module's memory (growing it when needed) and returns the input base. */
  load(bytes: Uint8Array): void {
    const need = this.inputOffset + bytes.length;
    const have = this.exports.mem.buffer.byteLength;
    if (need > have) {
      this.exports.mem.grow(Math.ceil((need - have) / PAGE));
      this.view = new Uint8Array(this.exports.mem.buffer);
    }
    this.view.set(bytes, this.inputOffset);
  }

  /** Scans the loaded input from `i`; see the module comment. */
  scan(i: number, to: number, s: number): number {
    return this.exports.scan(i, to, s);
  }

  get state(): number {
    return this.exports.state.value as number;
  }
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (small constants only). */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

// Opcodes used.
const I32 = 0x7f;
const OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  ret: 0x0f,
  localGet: 0x20,
  localSet: 0x21,
  globalSet: 0x24,
  load: 0x28,
  load8u: 0x2d,
  const: 0x41,
  ltS: 0x48,
  geU: 0x4f,
  add: 0x6a,
  sub: 0x6b,
  shl: 0x74,
} as const;

function assemble(classesAt: number, deltaAt: number, inputAt: number, pages: number): Uint8Array {
  const i = 0;
  const to = 1;
  const s = 2;
  const code = [
    OP.block,
    0x40,
    OP.loop,
    0x40,
    // if (i >= to) break
    OP.localGet,
    i,
    OP.localGet,
    to,
    OP.geU,
    OP.brIf,
    1,
    // s = delta[s + classes[input[i]]]
    OP.localGet,
    s,
    OP.localGet,
    i,
    OP.load8u,
    0,
    ...uleb(inputAt),
    OP.const,
    2,
    OP.shl,
    OP.load,
    2,
    ...uleb(classesAt),
    OP.add,
    OP.load,
    2,
    ...uleb(deltaAt),
    OP.localSet,
    s,
    // if (s < 0) { state = -s; return i }
    OP.localGet,
    s,
    OP.const,
    0,
    OP.ltS,
    OP.if,
    0x40,
    OP.const,
    0,
    OP.localGet,
    s,
    OP.sub,
    OP.globalSet,
    0,
    OP.localGet,
    i,
    OP.ret,
    OP.end,
    // i++ ; continue
    OP.localGet,
    i,
    OP.const,
    1,
    OP.add,
    OP.localSet,
    i,
    OP.br,
    0,
    OP.end,
    OP.end,
    // state = s; return to
    OP.localGet,
    s,
    OP.globalSet,
    0,
    OP.localGet,
    to,
    OP.end,
  ];
  const body = [0x00, ...code]; // no locals beyond the parameters
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32]]), ...vec([[I32]])]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(6, vec([[I32, 0x01, OP.const, ...sleb(0), OP.end]])),
    ...section(
      7,
      vec([
        [...name('scan'), 0x00, 0],
        [...name('mem'), 0x02, 0],
        [...name('state'), 0x03, 0],
      ]),
    ),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ];
  return Uint8Array.from(bytes);
}

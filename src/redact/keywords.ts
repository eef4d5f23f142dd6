// One pass over the text finds every keyword of every rule (Aho-Corasick, as gitleaks does), so a
// rule's pattern runs only where one of its keywords occurs. The automaton is compiled once into
// a dense transition table over a compact alphabet: ASCII folded to lower case, every character
// that appears in no keyword mapped to one "other" class. Scanning is then one table lookup per
// character, with no allocation.

import { WasmScanner } from './wasmscan.js';

export class KeywordAutomaton {
  private wasm: WasmScanner | null | undefined;
  private readonly classes: Uint8Array; // UTF-16 code unit -> class; 0 = in no keyword
  private readonly width: number; // number of classes
  // Transitions, with each target pre-multiplied by width (so the hot loop adds, never multiplies)
  // and negated when the target state reports keywords (so one sign test finds outputs).
  private readonly delta: Int32Array;
  private readonly outStart: Int32Array; // state -> offset into outList, or -1
  private readonly outList: Int32Array; // keyword indices, -1 terminated runs
  private readonly lengths: Int32Array;

  constructor(keywords: readonly string[]) {
    if (keywords.length === 0) throw new TypeError('KeywordAutomaton needs at least one keyword');
    const lowered = keywords.map((k) => {
      if (k.length === 0 || !/^[\x20-\x7e]+$/.test(k))
        throw new TypeError(`keyword "${k}" must be non-empty printable ASCII`);
      return k.toLowerCase();
    });
    this.lengths = Int32Array.from(lowered.map((k) => k.length));

    // A full 64K table: no range check per character (the table is 64 KiB, it stays in cache).
    this.classes = new Uint8Array(65536);
    let width = 1;
    for (const k of lowered) {
      for (let i = 0; i < k.length; i++) {
        const c = k.charCodeAt(i);
        if (this.classes[c] === 0) this.classes[c] = width++;
      }
    }
    if (width > 255) throw new TypeError('too many distinct keyword characters');
    // Upper-case letters scan as their lower-case class.
    for (let c = 65; c <= 90; c++) this.classes[c] = this.classes[c + 32]!;
    this.width = width;

    // Trie, as edge lists (flat arrays, not a Map per node: construction is on the start-up path
    // of every command that redacts, where code still runs in V8's interpreter).
    const maxStates = lowered.reduce((n, k) => n + k.length, 1);
    const go = new Int32Array(maxStates * width).fill(-1);
    const edgeCls = new Int32Array(maxStates);
    const edgeNext = new Int32Array(maxStates).fill(-1);
    const firstEdge = new Int32Array(maxStates).fill(-1);
    const outputs: (number[] | undefined)[] = [];
    let n = 1;
    lowered.forEach((k, idx) => {
      let st = 0;
      for (let i = 0; i < k.length; i++) {
        const cls = this.classes[k.charCodeAt(i)]!;
        const at = st * width + cls;
        if (go[at] === -1) {
          const child = n++;
          go[at] = child;
          edgeCls[child] = cls;
          edgeNext[child] = firstEdge[st]!;
          firstEdge[st] = child;
        }
        st = go[at]!;
      }
      (outputs[st] ??= []).push(idx);
    });

    // Breadth-first failure links, folded into a full DFA: each state's row starts as a copy of
    // its failure state's row (one native copy), then its own edges overwrite their entries.
    const delta = new Int32Array(n * width);
    const fail = new Int32Array(n);
    const queue = new Int32Array(n);
    let tail = 1; // queue[0] = root
    for (let qi = 0; qi < tail; qi++) {
      const st = queue[qi]!;
      const f = fail[st]!;
      if (st !== 0) {
        delta.copyWithin(st * width, f * width, f * width + width);
        const inherited = outputs[f];
        if (inherited) outputs[st] = [...(outputs[st] ?? []), ...inherited];
      }
      for (let child = firstEdge[st]!; child !== -1; child = edgeNext[child]!) {
        const cls = edgeCls[child]!;
        fail[child] = st === 0 ? 0 : delta[st * width + cls]!;
        delta[st * width + cls] = child;
        queue[tail++] = child;
      }
    }
    this.outStart = new Int32Array(n).fill(-1);
    const flat: number[] = [];
    for (let st = 0; st < n; st++) {
      const outs = outputs[st];
      if (outs && outs.length > 0) {
        this.outStart[st] = flat.length;
        flat.push(...new Set(outs), -1);
      }
    }
    this.outList = Int32Array.from(flat);
    for (let i = 0; i < delta.length; i++) {
      const target = delta[i]!;
      delta[i] = this.outStart[target]! >= 0 ? -(target * width) : target * width;
    }
    this.delta = delta;
  }

  /**
   * The same scan over bytes (latin1: one byte, one character). Faster than over a string, so
   * the stream scans the bytes it already holds and decodes text only for pattern attempts.
   *
   * Hits go to `out` (keyword, start pairs) rather than to a callback: a fresh callback per call
   * would make V8 throw away the optimized loop on every chunk ("wrong call target"). Returns the
   * number of ints written; stops early when `out` is nearly full and reports where via `resume`.
   */
  scanBytesInto(
    bytes: Uint8Array,
    from: number,
    to: number,
    out: Int32Array,
    resume: { at: number; state: number },
  ): number {
    const { classes, delta, width, outStart, outList, lengths } = this;
    const limit = out.length - 64;
    let s = resume.state;
    let n = 0;
    let i = from;
    for (; i < to; i++) {
      s = delta[s + classes[bytes[i]!]!]!;
      if (s < 0) {
        s = 0 - s;
        for (let j = outStart[s / width]!; outList[j]! >= 0; j++) {
          const k = outList[j]!;
          out[n++] = k;
          out[n++] = i + 1 - lengths[k]!;
        }
        if (n >= limit) {
          i++;
          break;
        }
      }
    }
    resume.at = i;
    resume.state = s;
    return n;
  }

  /**
   * Every keyword occurrence in bytes[from, to), through the WebAssembly inner loop when the
   * runtime has WebAssembly (else the JavaScript one): same hits, about four times faster.
   */
  scanBytes(
    bytes: Uint8Array,
    from: number,
    to: number,
    onHit: (keyword: number, start: number) => void,
  ): void {
    const wasm = this.wasmScanner();
    if (!wasm) {
      const out = new Int32Array(4096);
      const resume = { at: from, state: 0 };
      while (resume.at < to) {
        const n = this.scanBytesInto(bytes, resume.at, to, out, resume);
        for (let h = 0; h < n; h += 2) onHit(out[h]!, out[h + 1]!);
      }
      return;
    }
    const { outStart, outList, lengths } = this;
    const row = this.width * 4;
    wasm.load(bytes);
    let s = 0;
    for (let i = from; i < to;) {
      i = wasm.scan(i, to, s);
      if (i >= to) break;
      s = wasm.state;
      for (let j = outStart[s / row]!; outList[j]! >= 0; j++) {
        const k = outList[j]!;
        onHit(k, i + 1 - lengths[k]!);
      }
      i++;
    }
  }

  private wasmScanner(): WasmScanner | null {
    if (this.wasm === undefined) {
      try {
        const classes4 = new Int32Array(256);
        for (let b = 0; b < 256; b++) classes4[b] = this.classes[b]! * 4;
        this.wasm = new WasmScanner({ classes4, delta4: this.delta.map((d) => d * 4) });
      } catch {
        this.wasm = null;
      }
    }
    return this.wasm;
  }

  /** Calls `onHit` for every keyword occurrence in text[from, to), in order of end position. */
  scan(text: string, from: number, to: number, onHit: (keyword: number, start: number) => void): void {
    const { classes, delta, width, outStart, outList, lengths } = this;
    let s = 0;
    for (let i = from; i < to; i++) {
      s = delta[s + classes[text.charCodeAt(i)]!]!;
      if (s < 0) {
        s = -s;
        for (let j = outStart[s / width]!; outList[j]! >= 0; j++) {
          const k = outList[j]!;
          onHit(k, i + 1 - lengths[k]!);
        }
      }
    }
  }
}

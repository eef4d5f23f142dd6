// The upstream of gitupstream.ts, in a process of its own: argv ROOT USER PASSWORDS_FILE; prints
// its URL, serves until killed.

import { readFileSync } from 'node:fs';
import { serveUpstream } from './gitupstream.js';

const [root, user, file] = process.argv.slice(2) as [string, string, string];
// Read at every request: the test adds credentials it mints meanwhile (one per line).
const { url } = await serveUpstream(root, user, () => readFileSync(file, 'utf8').split('\n').filter(Boolean));
process.stdout.write(`${url}\n`);

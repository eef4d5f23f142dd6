// The upstream of gitupstream.ts, in a process of its own: argv ROOT USER PASSWORD_FILE; prints
// its URL, serves until killed.

import { readFileSync } from 'node:fs';
import { serveUpstream } from './gitupstream.js';

const [root, user, file] = process.argv.slice(2) as [string, string, string];
const { url } = await serveUpstream(root, user, readFileSync(file, 'utf8'));
process.stdout.write(`${url}\n`);

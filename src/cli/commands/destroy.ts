// rampart destroy: see runs.ts.

import { runsCommand } from './runs.js';

export const command = runsCommand('destroy');

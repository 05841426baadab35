// The component's entry point (componentize-js builds this file): wires the
// `easel:image-provider@0.2.0` imports the host links (egress, log,
// progress, config) into flow.js and exports the WIT `provider`. Nothing
// else lives here, so all the logic stays testable with `node --test`.

import { fetch, secretConfigured } from 'easel:image-provider/egress@0.2.0';
import { log } from 'easel:image-provider/log@0.2.0';
import { report } from 'easel:image-provider/progress@0.2.0';
import { get } from 'easel:image-provider/config@0.2.0';
import { makeProvider } from './flow.js';

export const provider = makeProvider({ fetch, secretConfigured, log, report, get });

// The four calls the host makes (WIT `provider`), over a host object instead
// of the `easel:` imports so they run natively under `node --test`
// (flow.test.js): `describe` (the model table and the origin called),
// `submit` (one synchronous POST, so always `done` with inline images),
// `poll`/`cancel` (nothing to do for a synchronous API). Every failure
// leaves as a thrown WIT `provider-error` variant: componentize-js turns a
// thrown `{tag, val}` into the `err` of the result, while a thrown Error
// would trap, so `guard` converts anything unexpected into `internal`.
//
// host: { fetch(req) -> resp (throws the egress-error), secretConfigured(name),
//         log(level, message), report(fraction, message), get(key) -> string|undefined }

import { DEFAULT_MODEL, modelInfo, models } from './models.js';
import { SECRET, buildRequest, egressError, interpret, originOf, settingsFrom } from './protocol.js';

export const VERSION = '0.1.0';

const VARIANTS = new Set([
  'invalid-request', 'unsupported', 'unauthorized', 'content-blocked', 'rate-limited', 'upstream', 'timeout', 'unavailable', 'internal',
]);

/** Run `body`; rethrow provider errors as they are and anything else as `internal`. */
function guard(body) {
  try {
    return body();
  } catch (e) {
    if (e && typeof e === 'object' && VARIANTS.has(e.tag)) throw e;
    throw { tag: 'internal', val: `Stability plugin bug: ${e && e.message ? e.message : String(e)}` };
  }
}

/** The WIT `provider` export over `host`. */
export function makeProvider(host) {
  return {
    describe() {
      return guard(() => {
        const settings = settingsFrom(host.get);
        return {
          id: 'stability',
          displayName: 'Stability AI',
          version: VERSION,
          description: "Stability AI's Stable Image API (Ultra, Core, Stable Diffusion 3.5): text to image and image-to-image, synchronous, billed in credits per image.",
          models: models().map(modelInfo),
          defaultModel: DEFAULT_MODEL,
          secrets: [{
            name: SECRET,
            description: 'Stability AI API key (sk-…), from https://platform.stability.ai/account/keys; sent as `Authorization: Bearer`.',
            required: true,
          }],
          hosts: [originOf(settings.baseUrl)],
        };
      });
    },

    submit(request) {
      return guard(() => {
        if (!host.secretConfigured(SECRET)) {
          throw { tag: 'unauthorized', val: `${SECRET} is not set: set the environment variable named in [plugins.stability.secrets.${SECRET}] of plugins.toml` };
        }
        const settings = settingsFrom(host.get);
        const built = buildRequest(request, settings, VERSION);
        const { url } = built.http;
        host.log('debug', `POST ${url} model=${built.model.id} aspect_ratio=${built.aspectRatio || 'default'} (${built.http.body.length} bytes)`);
        host.report(undefined, `waiting for Stability ${built.model.service} (${built.model.id})`);
        let response;
        try {
          response = host.fetch(built.http);
        } catch (e) {
          throw egressError(e, url);
        }
        const images = interpret(response, built, url);
        host.log('debug', `Stability returned ${images.length} image(s), seed ${images[0].seed ?? 'unknown'}`);
        return { tag: 'done', val: images };
      });
    },

    poll(token) {
      return guard(() => {
        throw { tag: 'invalid-request', val: { field: 'job_id', message: `Stability's Stable Image API is synchronous: submit returns the images, so there is no job \`${token}\` to poll` } };
      });
    },

    cancel() {
      // Nothing is ever pending.
    },
  };
}

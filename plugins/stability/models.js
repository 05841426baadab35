// The Stability AI model table: which v2beta service each model calls, what
// it accepts (docs/providers/stability.md#models, #fields), what it costs
// (#prices) and the provider parameters it declares (WIT 0.2.0
// `model-info.parameters`). Imports nothing, so it is unit-tested natively.
// Source tags: [P] primary, [S] secondary, [M] unconfirmed (see the doc).

/** The nine aspect ratios every generate service takes [S]. */
export const ASPECT_RATIOS = ['1:1', '16:9', '9:16', '21:9', '9:21', '3:2', '2:3', '5:4', '4:5'];

/** `style_preset` values [S]. */
export const STYLE_PRESETS = [
  '3d-model', 'analog-film', 'anime', 'cinematic', 'comic-book', 'digital-art', 'enhance', 'fantasy-art',
  'isometric', 'line-art', 'low-poly', 'modeling-compound', 'neon-punk', 'origami', 'photographic',
  'pixel-art', 'tile-texture',
];

/** Largest seed Stability takes (0 means "pick one at random") [S]. */
export const MAX_SEED = 4294967294n;
/** Longest prompt and negative prompt, characters [S]. */
export const MAX_PROMPT_CHARS = 10000;
/** `cfg_scale` bounds of the sd3 service [S]. */
export const CFG_RANGE = [1, 10];
/** Input image side bounds and smallest pixel count [S for ultra; assumed for sd3, M]. */
export const INPUT_SIDE = [64, 16384];
export const INPUT_MIN_PIXELS = 4096;
/** Biggest request body Stability accepts (answers 413 above it) [S]. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** US dollars per credit [S]. */
export const USD_PER_CREDIT = 0.01;

const PROMPT_NOTES =
  'Describe subject, setting, style, colours and lighting in plain English sentences; up to 10000 characters. ' +
  'Weight a word with (word:weight), weight 0 to 1, e.g. "a (blue:0.3) and (green:0.8) sky". ' +
  'Say what to leave out in negative_prompt where the model takes one. Width and height only choose the ' +
  'nearest of the nine aspect ratios: Stability picks the pixel size (about one megapixel).';

/**
 * One model. `service` is the path segment under /v2beta/stable-image/generate/;
 * `sd3Model` the `model` form field of the sd3 service; `credits` its price
 * per image [S]. Ultra and the sd3 models take an input image (image-to-image)
 * [S]; turbo takes no negative prompt [S for SD3 turbo, M for 3.5]; the sd3
 * service returns png or jpeg only [S, sources disagree].
 */
const MODELS = [
  {
    id: 'stable-image-core', displayName: 'Stable Image Core', aliases: ['core'], service: 'core', credits: 3,
    edit: false, negativePrompt: true, guidance: false, formats: ['png', 'jpeg', 'webp'],
  },
  {
    id: 'stable-image-ultra', displayName: 'Stable Image Ultra', aliases: ['ultra'], service: 'ultra', credits: 8,
    edit: true, negativePrompt: true, guidance: false, formats: ['png', 'jpeg', 'webp'],
  },
  {
    id: 'sd3.5-large', displayName: 'Stable Diffusion 3.5 Large', aliases: [], service: 'sd3', sd3Model: 'sd3.5-large',
    credits: 6.5, edit: true, negativePrompt: true, guidance: true, formats: ['png', 'jpeg'],
  },
  {
    id: 'sd3.5-large-turbo', displayName: 'Stable Diffusion 3.5 Large Turbo', aliases: [], service: 'sd3',
    sd3Model: 'sd3.5-large-turbo', credits: 4, edit: true, negativePrompt: false, guidance: true, formats: ['png', 'jpeg'],
  },
  {
    id: 'sd3.5-medium', displayName: 'Stable Diffusion 3.5 Medium', aliases: [], service: 'sd3', sd3Model: 'sd3.5-medium',
    credits: 3.5, edit: true, negativePrompt: true, guidance: true, formats: ['png', 'jpeg'],
  },
];

/** Model used when a request names none: the cheapest. */
export const DEFAULT_MODEL = 'stable-image-core';

/** Every model, in the order `describe` lists them. */
export function models() {
  return MODELS;
}

/** A model by id or alias, or undefined. */
export function findModel(id) {
  return MODELS.find((m) => m.id === id || m.aliases.includes(id));
}

const MIME = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

/** The provider parameters `model` declares, as a JSON Schema object. */
export function parameterSchema(model) {
  return {
    type: 'object',
    properties: {
      style_preset: { enum: STYLE_PRESETS, description: 'Guides the image towards a style.' },
      output_format: { enum: model.formats, description: 'Format of the returned image (default png).' },
    },
  };
}

/** `model` as WIT `model-info` (the JavaScript shape of the record). */
export function modelInfo(model) {
  return {
    id: model.id,
    displayName: model.displayName,
    aliases: model.aliases,
    operations: model.edit ? ['generate', 'edit'] : ['generate'],
    aspectRatios: ASPECT_RATIOS,
    sizeTiers: [],
    sizes: [],
    minSide: 256,
    maxSide: 2048,
    sizeMultiple: 1,
    defaultSize: { width: 1024, height: 1024 },
    maxImages: 1,
    maxInputImages: model.edit ? 1 : 0,
    features: {
      negativePrompt: model.negativePrompt,
      seed: true,
      steps: false,
      guidance: model.guidance,
      strength: model.edit,
      mask: false,
      customSize: false,
    },
    outputFormats: model.formats.map((f) => MIME[f]),
    lifecycle: 'current',
    replacement: undefined,
    pricePerImageUsd: Math.round(model.credits * USD_PER_CREDIT * 1000) / 1000,
    promptNotes: PROMPT_NOTES,
    parameters: JSON.stringify(parameterSchema(model)),
  };
}

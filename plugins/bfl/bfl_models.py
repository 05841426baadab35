"""The BFL models this plugin offers and what each can do: sizes, inputs,
features, price, and the JSON Schema of the BFL parameters it declares
(WIT `model-info.parameters`).

Plain Python (no `wit_world`), so it is unit-tested natively. Every fact
here is in docs/providers/bfl.md with its source; comments tag them
[P] primary (BFL's API reference / docs), [S] secondary (third-party code
or BFL's agent guides), [M] unconfirmed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# How Easel's size maps onto a model's input (docs/providers/bfl.md#sizes).
PIXELS = "pixels"  # width + height in pixels
RATIO = "ratio"  # aspect_ratio "W:H" only
FROM_INPUT = "input"  # the output keeps the input image's size (fill)

# Aspect ratios offered for ratio-only models. BFL documents the range
# "between 21:9 and 9:21" [P]; the list is the common one [S].
RATIOS = ("21:9", "16:9", "3:2", "4:3", "1:1", "3:4", "2:3", "9:16", "9:21")
WIDEST, TALLEST = 21 / 9, 9 / 21


def _int(lo: int, hi: int, text: str) -> dict:
    return {"type": "integer", "minimum": lo, "maximum": hi, "description": text}


SAFETY_TEXT = "Moderation strictness for input and output, 0 = strictest; BFL's default is 2."
SAFETY_6 = _int(0, 6, SAFETY_TEXT)  # FLUX.1 endpoints: 0..6 [P]
SAFETY_5 = _int(0, 5, SAFETY_TEXT)  # FLUX.2 endpoints: 0..5 [P]
OUTPUT_FORMAT = {"enum": ["jpeg", "png"],
                 "description": "File format BFL renders (the plugin asks for png by default)."}
UPSAMPLING = {"type": "boolean", "description": "Let BFL rewrite the prompt for more creative results."}
IMAGE_PROMPT = {"type": "string", "description": "A base64 image to remix with FLUX Redux."}


def schema(**properties: dict) -> dict:
    """A `parameters` schema: the declared keys are checked by the host;
    undeclared ones pass through and BFL validates them (its 422 names them)."""
    return {"type": "object", "properties": properties}


@dataclass(frozen=True)
class Model:
    """One BFL endpoint (`POST /v1/{id}`) and its capabilities."""

    id: str
    name: str
    size_mode: str
    notes: str
    aliases: tuple[str, ...] = ()
    operations: tuple[str, ...] = ("generate",)
    aspect_ratios: tuple[str, ...] = ()
    min_side: int = 64
    max_side: int = 2048
    multiple: int = 16
    default_size: tuple[int, int] = (1024, 1024)
    # Most reference images (`input_image`, `input_image_2`, …).
    max_inputs: int = 0
    features: frozenset[str] = frozenset({"seed"})
    steps: tuple[int, int] | None = None
    guidance: tuple[float, float] | None = None
    lifecycle: str = "current"
    replacement: str | None = None
    price: float | None = None
    parameters: dict | None = field(default=None, hash=False, compare=False)


FLUX2_NOTES = (
    "FLUX.2: natural-language prompts, long ones welcome; name text to render in quotes. Edits take up to "
    "{n} reference images (edit_image); refer to them as 'image 1', 'image 2'. No negative prompt."
)

TABLE: tuple[Model, ...] = (
    Model(
        id="flux-2-pro",
        name="FLUX.2 [pro]",
        aliases=("flux-2", "flux2-pro"),
        size_mode=PIXELS,
        operations=("generate", "edit"),
        max_inputs=8,  # input_image … input_image_8 [P]
        features=frozenset({"seed", "custom_size"}),
        price=0.03,  # first megapixel [S: BFL's bfl-api guide]
        notes=FLUX2_NOTES.format(n=8) + " BFL's recommended default for generation and editing.",
        parameters=schema(safety_tolerance=SAFETY_5, output_format=OUTPUT_FORMAT),
    ),
    Model(
        id="flux-2-max",
        name="FLUX.2 [max]",
        size_mode=PIXELS,
        operations=("generate", "edit"),
        max_inputs=8,
        features=frozenset({"seed", "custom_size"}),
        price=0.07,  # [S]
        notes=FLUX2_NOTES.format(n=8) + " Highest quality, slowest.",
        parameters=schema(safety_tolerance=SAFETY_5, output_format=OUTPUT_FORMAT),
    ),
    Model(
        id="flux-2-flex",
        name="FLUX.2 [flex]",
        size_mode=PIXELS,
        operations=("generate", "edit"),
        max_inputs=8,
        features=frozenset({"seed", "custom_size", "steps", "guidance"}),
        steps=(1, 50),  # default 50 [S]
        guidance=(1.5, 10.0),  # default 4.5 [S]
        price=0.05,  # [S]
        notes=FLUX2_NOTES.format(n=8) + " Tunable steps and guidance; strong at typography.",
        parameters=schema(safety_tolerance=SAFETY_5, output_format=OUTPUT_FORMAT, prompt_upsampling=UPSAMPLING),
    ),
    Model(
        id="flux-2-klein-9b",
        name="FLUX.2 [klein] 9B",
        size_mode=PIXELS,
        operations=("generate", "edit"),
        max_inputs=4,  # [S]
        features=frozenset({"seed", "custom_size"}),
        price=0.015,  # [S]
        notes=FLUX2_NOTES.format(n=4) + " Fast and cheap.",
        parameters=schema(safety_tolerance=SAFETY_5, output_format=OUTPUT_FORMAT),
    ),
    Model(
        id="flux-2-klein-4b",
        name="FLUX.2 [klein] 4B",
        size_mode=PIXELS,
        operations=("generate", "edit"),
        max_inputs=4,  # [S]
        features=frozenset({"seed", "custom_size"}),
        price=0.014,  # [S]
        notes=FLUX2_NOTES.format(n=4) + " Fastest and cheapest; short concrete prompts.",
        parameters=schema(safety_tolerance=SAFETY_5, output_format=OUTPUT_FORMAT),
    ),
    Model(
        id="flux-pro-1.1",
        name="FLUX1.1 [pro]",
        aliases=("flux-1.1-pro",),
        size_mode=PIXELS,
        min_side=256,  # 256..1440, multiple of 32, default 1024x768 [P]
        max_side=1440,
        multiple=32,
        default_size=(1024, 768),
        features=frozenset({"seed", "custom_size"}),
        price=0.04,  # [P]
        notes="Text to image only. One to three descriptive sentences; no negative prompt.",
        parameters=schema(
            safety_tolerance=SAFETY_6, output_format=OUTPUT_FORMAT, prompt_upsampling=UPSAMPLING,
            image_prompt=IMAGE_PROMPT,
        ),
    ),
    Model(
        id="flux-pro-1.1-ultra",
        name="FLUX1.1 [pro] Ultra",
        aliases=("flux-1.1-pro-ultra",),
        size_mode=RATIO,
        aspect_ratios=RATIOS,
        min_side=64,
        max_side=4096,
        multiple=1,
        default_size=(2752, 1536),  # 16:9 default [P]; pixel size of ~4 MP output [M]
        features=frozenset({"seed"}),
        price=0.06,  # [S]
        notes="Text to image at about 4 megapixels; sizes come from aspect_ratio (width/height map to their ratio). "
        "params.raw = true gives a less processed, photographic look.",
        parameters=schema(
            safety_tolerance=SAFETY_6,
            output_format=OUTPUT_FORMAT,
            prompt_upsampling=UPSAMPLING,
            raw={"type": "boolean", "description": "Less processed, more natural-looking images."},
            image_prompt=IMAGE_PROMPT,
            image_prompt_strength={"type": "number", "minimum": 0, "maximum": 1,
                                   "description": "Blend of prompt and image_prompt."},
        ),
    ),
    Model(
        id="flux-dev",
        name="FLUX.1 [dev]",
        size_mode=PIXELS,
        min_side=256,
        max_side=1440,
        multiple=32,
        default_size=(1024, 768),
        features=frozenset({"seed", "custom_size", "steps", "guidance"}),
        steps=(1, 50),  # default 28 [P]
        guidance=(1.5, 5.0),  # default 3 [P]; range [S]
        notes="Text to image only, open-weights model served by BFL. Descriptive sentences; no negative prompt.",
        parameters=schema(
            safety_tolerance=SAFETY_6, output_format=OUTPUT_FORMAT, prompt_upsampling=UPSAMPLING,
            image_prompt=IMAGE_PROMPT,
        ),
    ),
    Model(
        id="flux-kontext-pro",
        name="FLUX.1 Kontext [pro]",
        aliases=("kontext", "kontext-pro"),
        size_mode=RATIO,
        operations=("generate", "edit"),
        aspect_ratios=RATIOS,
        min_side=64,
        max_side=4096,
        multiple=1,
        max_inputs=4,  # input_image … input_image_4 (2..4 experimental) [P]
        features=frozenset({"seed"}),
        lifecycle="legacy",  # "a legacy editing model … use FLUX.2 [pro]" [P]
        price=0.04,  # [S]
        notes="Instruction edits ('make it night', 'replace the text with \"OPEN\"'); keeps the rest of the image. "
        "Without aspect_ratio an edit keeps the input's ratio. Legacy: BFL recommends flux-2-pro for new work.",
        parameters=schema(safety_tolerance=SAFETY_6, output_format=OUTPUT_FORMAT, prompt_upsampling=UPSAMPLING),
    ),
    Model(
        id="flux-kontext-max",
        name="FLUX.1 Kontext [max]",
        aliases=("kontext-max",),
        size_mode=RATIO,
        operations=("generate", "edit"),
        aspect_ratios=RATIOS,
        min_side=64,
        max_side=4096,
        multiple=1,
        max_inputs=4,
        features=frozenset({"seed"}),
        lifecycle="legacy",
        price=0.08,  # [S]
        notes="Kontext with better prompt adherence and typography. Legacy: BFL recommends flux-2-max for new work.",
        parameters=schema(safety_tolerance=SAFETY_6, output_format=OUTPUT_FORMAT, prompt_upsampling=UPSAMPLING),
    ),
    Model(
        id="flux-pro-1.0-fill",
        name="FLUX.1 Fill [pro]",
        aliases=("flux-fill",),
        size_mode=FROM_INPUT,
        operations=("inpaint",),
        min_side=64,
        max_side=4096,
        multiple=1,
        max_inputs=1,
        features=frozenset({"seed", "mask", "steps", "guidance"}),
        steps=(15, 50),  # [S]
        guidance=(1.5, 100.0),  # [S]
        price=0.05,  # [S]
        notes="Inpainting: give one reference image and a mask (white = repaint); the prompt describes the new "
        "content. The output keeps the input's size.",
        parameters=schema(safety_tolerance=SAFETY_6, output_format=OUTPUT_FORMAT, prompt_upsampling=UPSAMPLING),
    ),
)

DEFAULT_MODEL = "flux-2-pro"


def extra(model_id: str) -> Model:
    """Loose capabilities for an operator-added endpoint id (config
    `extra_models`): sent with FLUX.2 field names; BFL validates the rest."""
    return Model(
        id=model_id,
        name=f"{model_id} (BFL endpoint)",
        size_mode=PIXELS,
        operations=("generate", "edit"),
        max_side=4096,
        max_inputs=8,
        features=frozenset({"seed", "custom_size", "steps", "guidance"}),
        notes="An operator-added BFL endpoint: Easel's settings go out as width, height, seed, steps, guidance and "
        "input_image…; BFL refuses the ones it does not take.",
    )


def all_models(extra_ids: list[str]) -> list[Model]:
    """The table plus one loose entry per extra id not already in it."""
    models = list(TABLE)
    for model_id in extra_ids:
        if find(model_id) is None and all(m.id != model_id for m in models):
            models.append(extra(model_id))
    return models


def find(name: str) -> Model | None:
    """A table model by id or alias (case-insensitive)."""
    key = name.strip().lower()
    for model in TABLE:
        if model.id == key or key in model.aliases:
            return model
    return None


def with_default(models: list[Model], default_id: str) -> tuple[list[Model], str]:
    """Make sure `default_id` is offered (a table id or alias resolves to
    its entry; anything else gets a loose entry); returns models and id."""
    found = find(default_id)
    if found is not None:
        return models, found.id
    if any(m.id == default_id for m in models):
        return models, default_id
    return models + [extra(default_id)], default_id

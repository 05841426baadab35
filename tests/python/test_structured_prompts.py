"""Structured prompts through the official MCP Python SDK (either era),
offline with the placeholder (a natural-language model): generate_image with
`structured_prompt` and no prose compiles to labelled sentences, shown as
`compiled_prompt` and recorded as the sidecar's prompt; vary_image with
`{"lighting": "night"}` changes that one field and recompiles (the rest kept,
nothing compiled twice); a saved style's structured defaults sit under the
request's own; an unknown key is refused naming its path and stores nothing.
The per-style compilers themselves reach real plugins in test_sdwebui.py
(weighted tags) and test_fal.py (T5 prose)."""

import json

import anyio
import pytest

from conftest import easel_args, structured, text_of

pytest.importorskip("mcp")
from mcpclient import connect, field, stdio_params  # noqa: E402

POSTER = {
    "subject": "a red fox",
    "scene": "a snowy birch forest at dawn",
    "style": {"medium": "gouache illustration", "descriptors": ["flat shapes"]},
    "lighting": "golden rim light",
    "palette": ["rust", "cream"],
    "text": [{"content": "WINTER TALES", "placement": "top center"}],
    "negative": ["blur"],
}


def session(store_dir, cache_dir, body):
    async def main():
        async with connect(stdio_params(easel_args(store_dir, cache_dir))) as client:
            return await body(client)

    return anyio.run(main)


async def sidecar(client, image_id):
    return json.loads((await client.read_resource(f"image://{image_id}/metadata")).contents[0].text)


def test_a_structured_prompt_compiles_for_the_model_and_a_variation_changes_one_field(store_dir, cache_dir):
    async def body(client):
        made = await client.call_tool("generate_image", {"structured_prompt": POSTER, "seed": 7})
        assert not field(made, "isError"), text_of(made)
        compiled = structured(made)["compiled_prompt"]
        assert compiled == ("A red fox. Setting: a snowy birch forest at dawn. Style: gouache illustration, flat shapes. "
                            "Lighting: golden rim light. Colour palette: rust and cream. "
                            'The image shows the text "WINTER TALES" exactly as written, top center.'), compiled
        assert "compiled prompt: A red fox." in text_of(made)
        original = structured(made)["images"][0]
        meta = await sidecar(client, original["id"])
        assert meta["prompt"] == compiled, "the sidecar records what reached the provider"
        # The placeholder takes a negative prompt, so the negatives went there.
        assert meta["negative_prompt"] == "blur"

        varied = await client.call_tool("vary_image", {"image": original["id"], "structured_prompt": {"lighting": "night", "text": None}})
        assert not field(varied, "isError"), text_of(varied)
        recompiled = structured(varied)["compiled_prompt"]
        assert "Lighting: night." in recompiled and "golden" not in recompiled, recompiled
        assert "WINTER TALES" not in recompiled, "null removes a key"
        assert recompiled.startswith("A red fox. Setting: a snowy birch forest at dawn."), recompiled
        assert recompiled.count("A red fox") == 1, "recompiled from the fields, not from the compiled text"
        child = await sidecar(client, structured(varied)["images"][0]["id"])
        assert child["parents"] == meta["parents"]

        # A variation of the variation keeps the changed field.
        again = await client.call_tool("vary_image", {"image": structured(varied)["images"][0]["id"]})
        assert "Lighting: night." in structured(again)["compiled_prompt"]

    session(store_dir, cache_dir, body)


def test_a_styles_structured_defaults_sit_under_the_requests_own(store_dir, cache_dir):
    async def body(client):
        saved = await client.call_tool("save_style", {
            "name": "noir", "brief": "black-and-white film noir",
            "structured_prompt": {"lighting": "hard venetian-blind shadows", "palette": ["black", "silver"]}})
        assert not field(saved, "isError"), text_of(saved)
        bad = await client.call_tool("save_style", {"name": "bad", "brief": "x", "structured_prompt": {"lightning": "x"}})
        assert field(bad, "isError") and "structured_prompt.lightning" in text_of(bad), text_of(bad)

        made = await client.call_tool("generate_image", {
            "prompt": "a detective in a doorway", "style": "noir", "structured_prompt": {"palette": ["black", "red"]}})
        assert not field(made, "isError"), text_of(made)
        compiled = structured(made)["compiled_prompt"]
        assert compiled.startswith("A detective in a doorway"), compiled
        assert 'Style "noir": black-and-white film noir.' in compiled, "the brief joins the prose"
        assert "Lighting: hard venetian-blind shadows." in compiled, "the style's default"
        assert "Colour palette: black and red." in compiled and "silver" not in compiled, "the request's key wins"

    session(store_dir, cache_dir, body)


def test_mistakes_in_a_structured_prompt_name_their_path_and_store_nothing(store_dir, cache_dir):
    async def body(client):
        for args, path, words in [
            ({"structured_prompt": {"subject": "a fox", "lightning": "dusk"}}, "structured_prompt.lightning", "unknown key"),
            ({"structured_prompt": {"text": [{"content": "A", "colour": "red"}], "subject": "x"}},
             "structured_prompt.text[0].colour", "unknown key"),
            ({"structured_prompt": {"lighting": 3, "subject": "x"}}, "structured_prompt.lighting", "must be a string"),
            ({"structured_prompt": {"mood": "calm"}}, "prompt", "no subject, subjects or scene"),
        ]:
            refused = await client.call_tool("generate_image", args)
            assert field(refused, "isError"), text_of(refused)
            assert structured(refused)["error"]["field"] == path, structured(refused)
            assert words in structured(refused)["error"]["message"], structured(refused)
        listed = await client.call_tool("list_images", {})
        assert structured(listed)["images"] == [], "nothing was stored"

    session(store_dir, cache_dir, body)

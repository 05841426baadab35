"""upscale_image through the official MCP Python SDK (either era), offline with
the placeholder's `placeholder-upscale` model (a real bilinear resize): the
result is the input's size times the factor, records the input as its parent
and an `upscale` recipe, and vary_image of it upscales again; a bad factor, a
model that cannot upscale and a target past the model's limit are refused
naming the field and a model that can, and store nothing. The CLI's
`easel generate --upscale` does the same. The provider plugins' upscalers are
tested against their fakes in test_sdwebui.py, test_fal.py, test_replicate.py
and test_comfyui.py."""

import subprocess

import pytest

from conftest import easel_args, outputs, structured, text_of
from imagebytes import png_size

pytest.importorskip("mcp")
from mcpclient import field, sidecar, stdio_session  # noqa: E402


def session(store_dir, cache_dir, body):
    return stdio_session(easel_args(store_dir, cache_dir), body)


def stored_images(store_dir):
    return sorted(p.name for p in store_dir.rglob("*.png")) if store_dir.exists() else []


def test_an_upscale_doubles_the_image_and_keeps_its_lineage(store_dir, cache_dir):
    async def body(client):
        made = structured(await client.call_tool("generate_image", {"prompt": "a harbour", "width": 320, "height": 200, "seed": 5}))
        source = made["images"][0]
        up = await client.call_tool("upscale_image", {"image": source["id"], "scale": 2})
        assert not field(up, "isError"), text_of(up)
        image = structured(up)["images"][0]
        assert (image["width"], image["height"]) == (640, 400)
        assert png_size(image["path"]) == (640, 400)
        assert structured(up)["model"] == "placeholder-upscale", "the provider's upscale model, not its default"
        meta = await sidecar(client, image["id"])
        assert meta["parents"] == [source["id"]]
        assert meta["parameters"]["operation"] == "upscale" and meta["parameters"]["scale"] == 2

        # A factor that is not a whole number, given as an image:// URI.
        odd = structured(await client.call_tool("upscale_image", {"image": f"image://{source['id']}", "scale": 1.5}))
        assert (odd["images"][0]["width"], odd["images"][0]["height"]) == (480, 300)

        # vary_image of an upscale upscales the same input again.
        again = await client.call_tool("vary_image", {"image": image["id"]})
        assert not field(again, "isError"), text_of(again)
        varied = structured(again)["images"][0]
        assert (varied["width"], varied["height"]) == (640, 400)
        assert (await sidecar(client, varied["id"]))["parents"] == [source["id"]]

    session(store_dir, cache_dir, body)


def test_a_bad_upscale_names_its_field_and_a_model_that_can(store_dir, cache_dir):
    async def body(client):
        source = structured(await client.call_tool("generate_image", {"prompt": "a kite", "width": 2048, "height": 1024}))["images"][0]
        before = stored_images(store_dir)
        cases = [
            ({"scale": 9}, "scale", "at most 8"),
            ({"scale": 1}, "scale", "more than 1"),
            ({"scale": 4}, "scale", "at most 4096 pixels a side; use a scale of at most 2.00"),
            ({"model": "placeholder-1"}, "model", "cannot upscale; provider `placeholder` model `placeholder-upscale` can"),
        ]
        for extra, name, message in cases:
            result = await client.call_tool("upscale_image", {"image": source["id"], **extra})
            assert field(result, "isError"), extra
            error = structured(result)["error"]
            assert error["field"] == name and message in error["message"], (extra, error)
        missing = await client.call_tool("upscale_image", {"image": "0123456789abcdef"})
        assert field(missing, "isError") and structured(missing)["error"]["field"] == "image"
        assert stored_images(store_dir) == before, "a refused upscale stores nothing"

    session(store_dir, cache_dir, body)


def test_the_cli_upscales_with_generate_upscale(store_dir, cache_dir):
    args = easel_args(store_dir, cache_dir)
    [(source, _)] = outputs(subprocess.run(args + ["generate", "a lantern", "--width", "100", "--height", "80"],
                                           capture_output=True, text=True, timeout=120))
    [(upscaled, path)] = outputs(subprocess.run(args + ["generate", "", "--image", source, "--upscale", "3"],
                                                capture_output=True, text=True, timeout=120))
    assert upscaled != source and png_size(path) == (300, 240)
    refused = subprocess.run(args + ["generate", "", "--image", source, "--upscale", "0.5"], capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "--upscale" in refused.stderr and "more than 1" in refused.stderr, refused.stderr

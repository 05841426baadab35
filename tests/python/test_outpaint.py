"""Outpainting (`edit_image` with `expand`, issue 14 part 3) through the
official MCP Python SDK (either era), offline with the placeholder: the image
grows by the margins asked for, the original stays pixel for pixel where it
was, the result's parent is the original and its recipe keeps `expand`, so
vary_image outpaints the same input again. Bad margins, a mask given beside
`expand` and a model that cannot paint in a mask are refused naming the field,
and store nothing. The CLI's `--expand` does the same; the OpenAI plugin's
masked edit of the grown canvas is in test_openai.py."""

from pathlib import Path

import pytest

from conftest import easel_args, outputs, structured, text_of
from imagebytes import png_pixels, png_size

pytest.importorskip("mcp")
from mcpclient import field, sidecar, stdio_session  # noqa: E402


def session(store_dir, cache_dir, body):
    return stdio_session(easel_args(store_dir, cache_dir), body)


def test_expand_grows_the_canvas_keeps_the_original_and_its_lineage(store_dir, cache_dir):
    margins = {"top": 32, "right": 128}

    async def body(client):
        made = structured(await client.call_tool(
            "generate_image", {"prompt": "a harbour", "width": 256, "height": 192, "seed": 5}))
        source = made["images"][0]
        grown = await client.call_tool("edit_image", {
            "prompt": "more sky and sea", "images": [{"image": source["id"]}], "expand": margins})
        assert not field(grown, "isError"), text_of(grown)
        image = structured(grown)["images"][0]
        meta = await sidecar(client, image["id"])
        again = await client.call_tool("vary_image", {"image": image["id"]})
        return source, image, meta, again

    source, image, meta, again = session(store_dir, cache_dir, body)
    assert (image["width"], image["height"]) == (384, 224)
    width, height, before = png_pixels(Path(source["path"]).read_bytes())
    _, _, after = png_pixels(Path(image["path"]).read_bytes())
    assert (width, height) == (256, 192)
    kept = all(after[y + 32][x][:3] == before[y][x][:3] for y in range(height) for x in range(width))
    assert kept, "the original region is unchanged: only the margins were painted"
    assert after[0][0] != before[0][0] or after[10][300] != before[0][255], "the margins were painted"
    assert meta["parents"] == [source["id"]], "the original is the parent, not the padded canvas"
    assert meta["parameters"]["operation"] == "inpaint"
    assert meta["parameters"]["expand"] == {"left": 0, "top": 32, "right": 128, "bottom": 0}
    assert not field(again, "isError"), text_of(again)
    varied = structured(again)["images"][0]
    assert (varied["width"], varied["height"]) == (384, 224)
    assert png_size(varied["path"]) == (384, 224)


def test_bad_margins_a_given_mask_and_a_maskless_model_are_refused_storing_nothing(store_dir, cache_dir):
    async def body(client):
        made = structured(await client.call_tool("generate_image", {"prompt": "a field", "width": 128, "height": 128}))
        source = made["images"][0]["id"]
        one = [{"image": source}]
        answers = {
            "none": await client.call_tool("edit_image", {"prompt": "x", "images": one, "expand": {}}),
            "huge": await client.call_tool("edit_image", {"prompt": "x", "images": one, "expand": {"left": 5000}}),
            "typo": await client.call_tool("edit_image", {"prompt": "x", "images": one, "expand": {"rigth": 10}}),
            "mask": await client.call_tool("edit_image", {
                "prompt": "x", "images": one + [{"image": source, "role": "mask"}], "expand": {"right": 10}}),
            "maskless": await client.call_tool("edit_image", {
                "prompt": "x", "images": one, "expand": {"right": 10}, "model": "placeholder-upscale"}),
        }
        return source, answers

    source, answers = session(store_dir, cache_dir, body)
    for name, answer in answers.items():
        assert field(answer, "isError"), (name, text_of(answer))
    assert "expand" in text_of(answers["none"]) and "at least one side" in text_of(answers["none"])
    assert "4096" in text_of(answers["huge"])
    assert "rigth" in text_of(answers["typo"])
    assert "mask" in text_of(answers["mask"]) and "images" in text_of(answers["mask"])
    assert "placeholder-upscale" in text_of(answers["maskless"]) and "inpaint" in text_of(answers["maskless"])
    assert sorted(p.stem for p in (store_dir / "images").rglob("*.png")) == [source]


def test_the_cli_outpaints_with_expand(store_dir, cache_dir, tmp_path):
    from conftest import EASEL_BIN
    import subprocess

    def cli(*args):
        return subprocess.run([EASEL_BIN, "--store", str(store_dir), "--cache", str(cache_dir), *args],
                              capture_output=True, text=True, timeout=120)

    [(parent, _)] = outputs(cli("generate", "a meadow", "--width", "200", "--height", "100"))
    [(child, path)] = outputs(cli("generate", "more meadow", "--image", parent, "--expand", "50,0,50,20"))
    assert png_size(path) == (300, 120)
    bad = cli("generate", "x", "--image", parent, "--expand", "1,2,3")
    assert bad.returncode != 0 and "LEFT,TOP,RIGHT,BOTTOM" in bad.stderr, bad.stderr

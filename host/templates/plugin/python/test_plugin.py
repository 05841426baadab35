"""End to end: the built component, loaded by the real `easel` binary, talks
to the fake API in fake_upstream.py. It builds nothing itself: build
__NAME_SNAKE__.wasm first (README.md), or point PLUGIN_WASM at a .wasm.
`easel` comes from EASEL_BIN, else from PATH; without either the tests are
skipped with a note.

Run: python -m unittest -v      (pytest works too)
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import fake_upstream

HERE = Path(__file__).resolve().parent


def easel_bin() -> str | None:
    """EASEL_BIN, else `easel` on PATH."""
    if "EASEL_BIN" in os.environ:
        return os.environ["EASEL_BIN"] if os.path.isfile(os.environ["EASEL_BIN"]) else None
    return shutil.which("easel")


def plugins_toml(wasm: Path, base_url: str) -> str:
    """The deployment entry README.md documents, aimed at the fake."""
    q = json.dumps  # a JSON string is a valid TOML basic string
    return f"""[defaults]
provider = "__NAME__"

[plugins.__NAME__]
path = {q(str(wasm))}
allowed_hosts = [{q(base_url)}]

[plugins.__NAME__.secrets.__ENV__]
env = "__ENV__"
hosts = [{q(base_url)}]

[plugins.__NAME__.config]
base_url = {q(base_url)}
"""


class EndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.easel = easel_bin()
        if cls.easel is None:
            raise unittest.SkipTest("no easel binary (set EASEL_BIN or put `easel` on PATH)")
        cls.wasm = Path(os.environ.get("PLUGIN_WASM", HERE / "__NAME_SNAKE__.wasm")).resolve()
        if not cls.wasm.is_file():
            raise AssertionError(f"{cls.wasm} does not exist: build the component first (see README.md)")
        cls.fake, cls.base_url = fake_upstream.start()
        cls.tmp = tempfile.TemporaryDirectory(prefix="__NAME__-test-")
        # Compiled components are cached here, shared by the tests.
        cls.cache = Path(cls.tmp.name) / "cache"

    @classmethod
    def tearDownClass(cls):
        cls.fake.shutdown()
        cls.tmp.cleanup()

    def generate(self, key: str) -> subprocess.CompletedProcess:
        """Write a plugins.toml for the fake into a fresh directory and run
        `easel generate "a red fox"` with `key` as the secret."""
        work = Path(tempfile.mkdtemp(dir=self.tmp.name))
        config = work / "plugins.toml"
        config.write_text(plugins_toml(self.wasm, self.base_url))
        command = [self.easel, "--config", config, "--store", work / "store", "--cache", self.cache]
        command += ["generate", "a red fox"]
        env = {**os.environ, "__ENV__": key}
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

    def test_generates_an_image_through_easel(self):
        run = self.generate(fake_upstream.KEY)
        self.assertEqual(run.returncode, 0, f"easel generate failed:\n{run.stderr}")
        # One line per image: ID<TAB>PATH.
        self.assertTrue(run.stdout.strip(), f"easel printed nothing; stderr:\n{run.stderr}")
        line = run.stdout.splitlines()[0]
        image_id, path = line.split("\t")
        self.assertTrue(image_id and path.endswith(".png"), line)
        self.assertTrue(Path(path).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), f"{path} is not a PNG")

    def test_a_wrong_key_is_reported_as_unauthorized(self):
        run = self.generate("wrong-key")
        self.assertNotEqual(run.returncode, 0, "easel generate succeeded with a wrong key")
        self.assertIn("unauthorized", run.stderr)
        self.assertIn("__ENV__", run.stderr)


if __name__ == "__main__":
    unittest.main()

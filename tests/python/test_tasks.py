"""MCP tasks (issue 14, part 7): the `io.modelcontextprotocol/tasks` extension
(SEP-2663, protocol 2026-07-28), driven by the official Python SDK 2.x through
its own extension mechanism (`ClientExtension` + a `ResultClaim` on
`resultType: "task"`), over streamable HTTP against the fal fake.

A generation still running when the short wait ends comes back as a task whose
id is the Easel job id; `tasks/get` reports its progress and, once it ended,
carries the tool result; `tasks/cancel` reaches the provider; a task outlives
the server that made it. Quick work (the placeholder) still answers at once.
mcp 1.x speaks 2025-11-25, where rmcp serves no tasks: those clients keep the
job-id tools (test_fal, test_pipeline)."""

import os
import sys
import time
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest

from conftest import HttpServer, easel_args, structured, text_of

mcp = pytest.importorskip("mcp")
if not hasattr(mcp, "Client"):
    pytest.skip("MCP tasks are a 2026-07-28 extension; mcp 1.x speaks 2025-11-25", allow_module_level=True)

from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402
from mcp_types import CallToolResult, Request, RequestParams, Result  # noqa: E402
from pydantic import ConfigDict, Field, TypeAdapter  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
import fal_fake  # noqa: E402

TASKS = "io.modelcontextprotocol/tasks"
FAL_KEY = "fal-tasks-test-key"


class TaskHandle(Result):
    """`CreateTaskResult`: what a task-capable `tools/call` may answer."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = Field(alias="resultType")
    task_id: str
    status: str
    status_message: str | None = None
    poll_interval_ms: int | None = None
    ttl_ms: int | None = None


class TaskIdParams(RequestParams):
    task_id: str


class TaskRequest(Request[TaskIdParams, str]):
    # SEP-2663: tasks/* carry the task id in the Mcp-Name header.
    name_param = "taskId"


RAW = TypeAdapter(dict[str, Any])


async def task_request(session, method, task_id):
    return await session.send_request(TaskRequest(method=method, params=TaskIdParams(task_id=task_id)), RAW)


class Tasks(ClientExtension):
    """Advertises the extension and finishes a task by polling `tasks/get`."""

    identifier = TASKS

    def __init__(self):
        self.polls, self.seen = 0, []

    def claims(self):
        return [ResultClaim(result_type="task", model=TaskHandle, resolve=self.resolve)]

    async def resolve(self, handle: TaskHandle, ctx: ClaimContext) -> CallToolResult:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await anyio.sleep((handle.poll_interval_ms or 500) / 1000)
            task = await task_request(ctx.session, "tasks/get", handle.task_id)
            self.polls += 1
            self.seen.append(task)
            if task["status"] == "completed":
                return CallToolResult.model_validate(task["result"])
            if task["status"] in ("failed", "cancelled"):
                raise RuntimeError(f"task {handle.task_id} ended {task['status']}: {task}")
        raise TimeoutError(f"task {handle.task_id} did not finish")


def config(root: Path, base: str) -> Path:
    path = root / "plugins.toml"
    path.write_text(f"""
[defaults]
provider = "fal"

[plugins.placeholder]
builtin = "placeholder"

{fal_fake.plugin_toml(base, extra="paid = false")}""")
    return path


@pytest.fixture
def fal():
    fake, base = fal_fake.start(key=FAL_KEY, queue_polls=2, run_polls=3)
    yield fake
    fake.shutdown()


@pytest.fixture
def server(fal, tmp_path, store_dir, cache_dir):
    base = f"http://127.0.0.1:{fal.server_address[1]}"
    args = easel_args(store_dir, cache_dir, config(tmp_path, base))
    started = HttpServer(args, env={**os.environ, "FAL_KEY": FAL_KEY})
    started.args = args
    yield started
    started.stop()


def run(url, body, extension=None):
    async def main():
        async with mcp.Client(url, mode="auto", extensions=[extension] if extension else None) as client:
            assert str(client.protocol_version) == "2026-07-28"
            return await body(client)

    return anyio.run(main)


def test_a_slow_generation_is_a_task_that_tasks_get_follows_to_its_images(server, fal):
    tasks = Tasks()

    async def body(client):
        # wait_seconds 0: answered with a task at once, finished by polling.
        return await client.call_tool("generate_image", {"prompt": "a lighthouse", "wait_seconds": 0})

    result = run(server.url, body, tasks)
    assert not result.is_error, text_of(result)
    images = structured(result)["images"]
    assert len(images) == 1 and Path(images[0]["path"]).is_file(), structured(result)
    job_id = structured(result)["job_id"]
    assert tasks.polls >= 1
    assert all(seen["taskId"] == job_id for seen in tasks.seen), "the task id is the Easel job id"
    working = [seen for seen in tasks.seen if seen["status"] == "working"]
    assert all(seen["statusMessage"].split(" at ")[1].startswith("fal") for seen in working), working
    assert all(seen["pollIntervalMs"] > 0 for seen in working)
    assert tasks.seen[-1]["status"] == "completed" and "pollIntervalMs" not in tasks.seen[-1]
    # The provider saw one submit, the result was stored as usual.
    assert len([r for r in fal.state.recorded if r["method"] == "POST"]) == 1


def test_tasks_cancel_reaches_the_provider_and_the_task_reads_cancelled(server, fal):
    async def body(client):
        handle = await client.session.call_tool(
            "generate_image", {"prompt": "a slow one [fake:slow]"}, allow_claimed=True)
        assert isinstance(handle, TaskHandle), handle
        assert handle.status == "working" and handle.task_id.startswith("job_")
        before = await task_request(client.session, "tasks/get", handle.task_id)
        ack = await task_request(client.session, "tasks/cancel", handle.task_id)
        after = await task_request(client.session, "tasks/get", handle.task_id)
        status = await client.call_tool("get_generation_status", {"job_id": handle.task_id})
        return before, ack, after, status

    before, ack, after, status = run(server.url, body, Tasks())
    assert before["status"] == "working", before
    assert ack.get("resultType", "complete") == "complete", ack
    assert after["status"] == "cancelled", after
    assert structured(status)["status"] == "canceled"
    cancels = [r for r in fal.state.recorded if r["method"] == "PUT"]
    assert len(cancels) == 1 and cancels[0]["path"].endswith("/cancel"), fal.state.recorded


def test_quick_work_answers_directly_and_a_pipeline_runs_as_one_task(server):
    tasks = Tasks()

    async def body(client):
        quick = await client.call_tool("generate_image", {"prompt": "a fox", "provider": "placeholder"})
        polls_after_quick = tasks.polls
        piped = await client.call_tool("run_pipeline", {"wait_seconds": 0, "steps": [
            {"id": "base", "op": "generate", "provider": "placeholder",
             "args": {"prompt": "a red barn", "width": 256, "height": 192}},
            {"id": "big", "op": "upscale", "provider": "placeholder",
             "args": {"image": "$base.images[0]", "scale": 2}},
        ]})
        return quick, polls_after_quick, piped

    quick, polls_after_quick, piped = run(server.url, body, tasks)
    assert not quick.is_error and structured(quick)["images"], text_of(quick)
    assert polls_after_quick == 0, "the placeholder answers within the short wait: no task"
    assert not piped.is_error, text_of(piped)
    assert tasks.polls >= 1, "wait_seconds 0 makes the pipeline a task"
    final = structured(piped)
    upscaled = final["images"][-1]
    assert (upscaled["width"], upscaled["height"]) == (512, 384), final
    assert [step["status"] for step in final["steps"]] == ["succeeded", "succeeded"], final


def test_a_client_without_the_extension_gets_a_job_id_and_unknown_tasks_are_invalid_params(server):
    async def plain(client):
        return await client.call_tool("generate_image", {"prompt": "a slow one [fake:slow]", "wait_seconds": 1})

    pending = run(server.url, plain)
    assert not pending.is_error and structured(pending)["job_id"].startswith("job_"), text_of(pending)
    assert "get_generation_status" in text_of(pending)

    async def unknown(client):
        with pytest.raises(MCPError) as raised:
            await task_request(client.session, "tasks/get", "job_0000000000000000")
        return raised.value

    error = run(server.url, unknown, Tasks())
    assert error.error.code == -32602 and "unknown task" in error.error.message, error.error


def test_a_task_outlives_the_server_that_made_it(server, fal, store_dir, cache_dir):
    async def start(client):
        handle = await client.session.call_tool(
            "generate_image", {"prompt": "a slow one [fake:slow]"}, allow_claimed=True)
        assert isinstance(handle, TaskHandle), handle
        return handle.task_id

    task_id = run(server.url, start, Tasks())
    server.stop()
    again = HttpServer(server.args, env={**os.environ, "FAL_KEY": FAL_KEY})
    try:
        async def follow(client):
            resumed = await task_request(client.session, "tasks/get", task_id)
            await task_request(client.session, "tasks/cancel", task_id)
            return resumed, await task_request(client.session, "tasks/get", task_id)

        resumed, cancelled = run(again.url, follow, Tasks())
    finally:
        again.stop()
    assert resumed["status"] == "working", resumed
    assert cancelled["status"] == "cancelled", cancelled
    assert len([r for r in fal.state.recorded if r["method"] == "PUT"]) == 1

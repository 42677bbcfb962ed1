"""The opcount command with Hugging Face models (hf:...), run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

SRC = str(Path(__file__).resolve().parents[1] / "src")
SMALL_LLAMA = [
    "--config",
    "num_hidden_layers=2",
    "--config",
    "hidden_size=128",
    "--config",
    "num_attention_heads=4",
    "--config",
    "num_key_value_heads=2",
    "--config",
    "intermediate_size=256",
    "--config",
    "vocab_size=1000",
]


def run(
    *args: str, cwd: Path | None = None, code: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC, "HF_HUB_OFFLINE": "1"}
    command = (
        [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "opcount", *args]
    )
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=cwd)


def test_gpt2_on_meta_has_its_published_parameters() -> None:
    done = run("hf:gpt2", "--device", "meta")
    assert done.returncode == 0, done.stderr
    assert "hf:gpt2, inputs [[1, 128]]" in done.stdout
    assert "124.44M" in done.stdout  # GPT-2 small: 124M, the LM head tied to the embedding


def test_llama_generate_on_meta_prints_prefill_and_decode(tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    done = run(
        "hf:llama",
        *SMALL_LLAMA,
        "--generate",
        "4",
        "--prompt",
        "16",
        "--device",
        "meta",
        "--csv",
        str(csv),
    )
    assert done.returncode == 0, done.stderr
    assert "prompt [1, 16], prefill + 4 decode steps, meta" in done.stdout
    lines = {line.split("  ")[0]: line for line in done.stdout.splitlines()}
    assert lines["prefill"].split()[1:3] == ["1", "16"]
    assert lines["decode"].split()[1:3] == ["4", "4"]
    # KV cache of the last decode step: 2 x 2 layers x 20 positions x 2 heads x 32 x 4 bytes
    assert "20.48 KB" in lines["decode last step"]
    assert csv.is_file()


def test_a_config_json_and_its_directory(tmp_path: Path) -> None:
    config = {"model_type": "gpt2", "n_layer": 1, "n_embd": 64, "n_head": 2, "vocab_size": 100}
    (tmp_path / "config.json").write_text(json.dumps(config))
    for target in (str(tmp_path / "config.json"), str(tmp_path)):
        done = run(f"hf:{target}", "--device", "meta", "--prompt", "8", "--quiet")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"hf:{target}: ")


def test_a_hub_id_is_refused_nothing_is_downloaded(tmp_path: Path) -> None:
    done = run("hf:some/hub-id", cwd=tmp_path)
    assert done.returncode == 2
    assert "nothing is downloaded" in done.stderr
    assert "hf:some/hub-id" in done.stderr


def test_a_bad_config_key_is_named() -> None:
    done = run("hf:llama", "--config", "num_layerz=2", "--device", "meta")
    assert done.returncode == 2
    assert "'num_layerz'" in done.stderr
    assert "num_hidden_layers" in done.stderr  # the close match
    done = run("hf:lama", "--device", "meta")
    assert done.returncode == 2
    assert "unknown model type" in done.stderr


def test_without_transformers_the_cli_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['transformers'] = None\n"
        "from opcount.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = run("hf:llama", "--device", "meta", code=code)
    assert done.returncode == 2
    assert "pip install 'opcount[hf]'" in done.stderr


def test_generate_options_need_an_hf_model() -> None:
    done = run("torchvision:resnet18", "--generate", "2", "--device", "meta")
    assert done.returncode == 2
    assert "--generate" in done.stderr

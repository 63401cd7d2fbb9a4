"""Generate the SDKs in ``generated/`` from ``openapi.yaml``.

    python sdk/generate.py [--lang typescript rust cpp python postman] [--out DIR] [--check]

Each language is ``sdk/config/<lang>.yaml`` (generator, options, why), optional template
overrides in ``sdk/templates/<lang>/`` (openapi-generator ``-t``) and hand-written files in
``sdk/overlay/<lang>/`` (tests, READMEs, lockfiles, the events helpers), copied over the
generator's output. ``--check`` generates into a temporary folder and fails on any difference
from the committed ``generated/`` (the drift check). Output is deterministic: same inputs, same
bytes. Build caches (``target/``, ``node_modules/``, ...) in ``generated/<lang>`` survive a
regeneration.

The generator is openapi-generator-cli from PyPI, pinned in pyproject.toml: its wheel carries the
JAR, so nothing is downloaded at run time. It needs Java 17 or newer.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.resources
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SDK = ROOT / "sdk"
SPEC = ROOT / "openapi.yaml"
GENERATED = ROOT / "generated"
LANGS = ("typescript", "rust", "cpp", "python", "postman")
GENERATOR_VERSION = "7.26.0"  # keep in step with pyproject.toml

# Build outputs and caches kept across regenerations and ignored by the drift check
# (they are also in .gitignore).
CACHE_DIRS = {"node_modules", "dist", "build-test", "target", "build", ".venv", "__pycache__",
              ".pytest_cache", "*.egg-info"}


class GenerationError(RuntimeError):
    pass


def _is_cache(rel: Path) -> bool:
    return any(any(Path(part).match(pattern) for pattern in CACHE_DIRS) for part in rel.parts)


def java() -> str:
    """The java binary, checked to be 17 or newer."""
    exe = shutil.which("java")
    if not exe:
        raise GenerationError("SDK generation needs Java 17 or newer on PATH (openapi-generator is a "
                              "Java program); install e.g. Debian's openjdk-17-jre-headless")
    out = subprocess.run([exe, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0"
        major = int(match.group(2))
    if major < 17:
        raise GenerationError(f"SDK generation needs Java 17 or newer; found: {out.splitlines()[:1]}")
    return exe


def generator_jar() -> Path:
    try:
        import openapi_generator_cli  # noqa: F401
        from importlib.metadata import version
    except ImportError as e:
        raise GenerationError("openapi-generator-cli is not installed: run `make install` "
                              "(it is a dev dependency in pyproject.toml)") from e
    found = version("openapi-generator-cli")
    if found != GENERATOR_VERSION:
        raise GenerationError(f"openapi-generator-cli {found} installed, {GENERATOR_VERSION} "
                              "pinned: run `make install`")
    jar = Path(str(importlib.resources.files("openapi_generator_cli") / "openapi-generator.jar"))
    if not jar.is_file():
        raise GenerationError(f"the openapi-generator-cli wheel has no bundled JAR at {jar}")
    return jar


def load_config(lang: str) -> dict[str, Any]:
    with (SDK / "config" / f"{lang}.yaml").open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _flags(kind: str, values: dict[str, Any]) -> list[str]:
    def text(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)
    return [f"--{kind}={','.join(f'{k}={text(v)}' for k, v in values.items())}"] if values else []


def run_openapi_generator(lang: str, out: Path) -> None:
    config = load_config(lang)
    overlay = SDK / "overlay" / lang
    out.mkdir(parents=True)
    # The ignore file must be in place before generating to keep the generator from writing
    # files the overlay owns (README, package.json, ...).
    if (overlay / ".openapi-generator-ignore").is_file():
        shutil.copy2(overlay / ".openapi-generator-ignore", out / ".openapi-generator-ignore")
    cmd = [java(), "-DmaxYamlCodePoints=99999999", "-jar", str(generator_jar()), "generate",
           "-g", config["generator"], "-i", str(SPEC), "-o", str(out),
           "--skip-validate-spec",  # tests/api/test_spec.py validates it; the generator's own
                                    # validator rejects nothing we write and costs seconds
           *_flags("global-property", config.get("globalProperties", {})),
           *_flags("additional-properties", config.get("additionalProperties", {}))]
    if config.get("library"):
        cmd += ["--library", config["library"]]
    for key, value in (config.get("typeMappings") or {}).items():
        cmd += ["--type-mappings", f"{key}={value}"]
    templates = SDK / "templates" / lang
    if templates.is_dir():
        cmd += ["-t", str(templates)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise GenerationError(f"openapi-generator failed for {lang}:\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
    apply_overlay(lang, out)


def apply_overlay(lang: str, out: Path) -> None:
    overlay = SDK / "overlay" / lang
    if not overlay.is_dir():
        return
    for src in sorted(overlay.rglob("*")):
        rel = src.relative_to(overlay)
        if src.is_dir() or _is_cache(rel):
            continue
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def run_postman(out: Path) -> None:
    """openapi-to-postmanv2 converts the spec; sdk/postman/complete.py orders the requests into a
    scenario that runs on a fresh server, with variables and pm.test assertions."""
    tool = SDK / "postman"
    npm = shutil.which("npm")
    if not npm:
        raise GenerationError("the Postman collection needs Node.js and npm (openapi-to-postmanv2)")
    if not (tool / "node_modules" / "openapi-to-postmanv2").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=tool, check=True)
    out.mkdir(parents=True)
    raw = out / "converted.json"
    proc = subprocess.run(["node", str(tool / "convert.js"), str(SPEC), str(raw)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise GenerationError(f"openapi-to-postmanv2 failed:\n{proc.stdout}{proc.stderr}")
    sys.path.insert(0, str(tool))
    try:
        import complete  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    complete.complete(raw, SPEC, out)
    raw.unlink()
    apply_overlay("postman", out)


def generate_into(lang: str, out: Path) -> None:
    if lang == "postman":
        run_postman(out)
    else:
        run_openapi_generator(lang, out)


def sync(src: Path, dst: Path) -> None:
    """Make dst hold exactly src's files, keeping dst's build caches."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(dst.rglob("*"), reverse=True):
        rel = path.relative_to(dst)
        if _is_cache(rel):
            continue
        if path.is_file() or path.is_symlink():
            if not (src / rel).is_file():
                path.unlink()
        elif path.is_dir() and not (src / rel).is_dir() and not any(path.iterdir()):
            path.rmdir()
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_file() and not ((dst / rel).is_file() and filecmp.cmp(path, dst / rel, shallow=False)):
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst / rel)


def differences(expected: Path, actual: Path) -> list[str]:
    def files(root: Path) -> set[Path]:
        return {p.relative_to(root) for p in root.rglob("*")
                if p.is_file() and not _is_cache(p.relative_to(root))} if root.is_dir() else set()
    want, have = files(expected), files(actual)
    out = [f"missing: {p}" for p in sorted(want - have)]
    out += [f"not generated: {p}" for p in sorted(have - want)]
    out += [f"differs: {p}" for p in sorted(want & have)
            if not filecmp.cmp(expected / p, actual / p, shallow=False)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="generate.py", description=__doc__.splitlines()[0])
    parser.add_argument("--lang", nargs="+", choices=LANGS, default=list(LANGS))
    parser.add_argument("--out", type=Path, default=GENERATED, help="folder to write <lang>/ into")
    parser.add_argument("--check", action="store_true",
                        help="generate into a temporary folder and fail if --out differs")
    args = parser.parse_args(argv)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tka-sdk-") as tmp:
        for lang in args.lang:
            fresh = Path(tmp) / lang
            try:
                generate_into(lang, fresh)
            except GenerationError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            if args.check:
                problems += [f"generated/{lang}: {d}" for d in differences(fresh, args.out / lang)]
            else:
                sync(fresh, args.out / lang)
                print(f"generated {args.out / lang}", file=sys.stderr)
    if problems:
        print("generated/ differs from a fresh generation (run `make sdks` and commit):", file=sys.stderr)
        print("\n".join(problems[:200]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())

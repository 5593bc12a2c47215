"""Rendering helm/levier with Helm's own engine (helm-python-sdk: Helm's Go SDK in a shared
library inside the wheel, no helm binary, no network) and reading the manifests back."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "levier"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
RELEASE = "levier"
NAMESPACE = "marketing"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    manifests: list[Manifest]
    notes: str

    def of_kind(self, kind: str) -> list[Manifest]:
        return [m for m in self.manifests if m["kind"] == kind]

    def named(self, kind: str, name: str) -> Manifest:
        found = [m for m in self.of_kind(kind) if m["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name} not rendered once: {self.names(kind)}"
        return found[0]

    def names(self, kind: str) -> list[str]:
        return sorted(m["metadata"]["name"] for m in self.of_kind(kind))

    def workers(self) -> dict[str, Manifest]:
        """The worker Deployments by pool name."""
        return {
            d["metadata"]["labels"]["levier/worker-pool"]: d
            for d in self.of_kind("Deployment")
            if d["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"
        }


@functools.cache
def _chart() -> helm.Chart:
    return helm.Chart.load(CHART)


def values_of(path: Path) -> dict[str, Any]:
    values: dict[str, Any] = helm.values_from_yaml(path.read_text())
    return values


def render(values: dict[str, Any] | None = None, *, release: str = RELEASE) -> Rendered:
    """``helm template`` of the chart with ``values`` (an install into NAMESPACE)."""
    files = _chart().render(values or {}, name=release, namespace=NAMESPACE, is_install=True)
    manifests: list[Manifest] = []
    notes = ""
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return Rendered(manifests, notes)


def containers(manifest: Manifest) -> list[dict[str, Any]]:
    spec = manifest["spec"]["template"]["spec"]
    found: list[dict[str, Any]] = spec["containers"]
    return found


def pod_spec(manifest: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
    return spec

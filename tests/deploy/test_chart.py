"""The Helm chart, rendered by Helm's own engine for every values file in helm/levier/ci/ and
validated against the Kubernetes API schemas (kubernetes-validate, shipped offline in its
wheel), oldest and newest release the chart supports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest

from backend.config import load_settings
from tests.deploy.chart import (
    CHART,
    CI_VALUES,
    NAMESPACE,
    RELEASE,
    Rendered,
    containers,
    pod_spec,
    render,
    values_of,
)
from workers.run import known_queues

# The chart's kubeVersion floor, and the newest schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())
NAME_LIMIT = 63
BULK = ["exports", "imports", "rfm", "segments"]

# kubernetes-validate knows the built-in kinds only. The two custom resources the chart may
# render are checked against the fields their APIs document (KEDA's ScaledObject and its cpu and
# redis triggers; the Prometheus Operator's ServiceMonitor), closed to any other field.
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "labels": _STRING_MAP},
    "additionalProperties": False,
}
_SELECTOR = {
    "type": "object",
    "properties": {"matchLabels": _STRING_MAP},
    "additionalProperties": False,
}
CUSTOM_RESOURCE_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "kind": {"const": "ScaledObject"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "name": {"type": "string"},
                        },
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "cooldownPeriod": {"type": "integer", "minimum": 0},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "additionalProperties": False,
                            "properties": {
                                "type": {"enum": ["cpu", "redis"]},
                                "metricType": {"enum": ["Utilization", "AverageValue"]},
                                # KEDA reads every trigger parameter as a string.
                                "metadata": _STRING_MAP,
                                "authenticationRef": {
                                    "type": "object",
                                    "required": ["name"],
                                    "additionalProperties": False,
                                    "properties": {"name": {"type": "string"}},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "ServiceMonitor"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "additionalProperties": False,
                "properties": {
                    "selector": _SELECTOR,
                    "namespaceSelector": {
                        "type": "object",
                        "properties": {"matchNames": {"type": "array"}},
                        "additionalProperties": False,
                    },
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string"},
                                "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                                "scrapeTimeout": {
                                    "type": "string",
                                    "pattern": "^[0-9]+(ms|s|m|h)$",
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

_RENDERED: dict[Path, Rendered] = {}


def rendered(path: Path) -> Rendered:
    """Each ci file rendered once per test process."""
    if path not in _RENDERED:
        _RENDERED[path] = render(values_of(path))
    return _RENDERED[path]


def default_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = values_of(CHART / "ci" / "existing-secret-values.yaml")
    return _merged(values, overrides)


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


ci_files = pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.stem)


def test_the_chart_ships_several_ci_values_files() -> None:
    assert len(CI_VALUES) >= 3, CI_VALUES


@ci_files
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_kubernetes(values_file: Path, version: str) -> None:
    manifests = rendered(values_file).manifests
    assert manifests
    for manifest in manifests:
        custom = CUSTOM_RESOURCE_SCHEMAS.get((manifest["apiVersion"], manifest["kind"]))
        if custom is not None:
            jsonschema.validate(manifest, custom)
            continue
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']}: {exc.message}")


@ci_files
def test_names_and_label_values_fit_in_63_characters(values_file: Path) -> None:
    for manifest in rendered(values_file).manifests:
        name = manifest["metadata"]["name"]
        assert len(name) <= NAME_LIMIT, name
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
        labels = dict(manifest["metadata"].get("labels", {}))
        if "template" in manifest.get("spec", {}):
            labels |= manifest["spec"]["template"]["metadata"].get("labels", {})
        for key, value in labels.items():
            assert len(str(value)) <= NAME_LIMIT, (key, value)


def test_a_long_full_name_is_cut_and_the_component_suffix_kept() -> None:
    out = rendered(CHART / "ci" / "long-names-values.yaml")
    names = [m["metadata"]["name"] for m in out.manifests]
    (job,) = out.names("Job")
    # Kubernetes labels the Job's pods job-name=<name>: a label value, 63 characters at most.
    assert job.endswith("-migrate")
    assert 56 < len(job) <= NAME_LIMIT
    assert any(n.endswith("-worker-all-queues-pool") for n in names), names


def test_the_default_pools_keep_bulk_work_apart_from_latency_sensitive_work() -> None:
    workers = render(default_values()).workers()
    assert set(workers) == {"bulk", "realtime"}
    bulk = containers(workers["bulk"])[0]["args"]
    realtime = containers(workers["realtime"])[0]["args"]
    assert bulk[bulk.index("--queues") + 1].split(",") == ["imports", "exports", "rfm", "segments"]
    # The catch-all pool excludes the bulk queues: a queue added later is consumed all the same.
    assert sorted(realtime[realtime.index("--exclude-queues") + 1].split(",")) == BULK
    annotations = [pod["spec"]["template"]["metadata"]["annotations"] for pod in workers.values()]
    consumed = [set(a["levier/queues"].split(",")) for a in annotations]
    assert consumed[0] | consumed[1] == known_queues()
    assert not consumed[0] & consumed[1]


@pytest.mark.parametrize(
    ("pools", "expected"),
    [
        ([{"name": "all"}], {"all": None}),
        (
            [
                {"name": "a", "queues": ["imports"]},
                {"name": "b", "queues": ["messages", "webhooks"], "threads": 16},
                {"name": "c", "excludeQueues": ["imports", "messages", "webhooks"]},
            ],
            {
                "a": ["--queues", "imports"],
                "b": ["--queues", "messages,webhooks"],
                "c": ["--exclude-queues", "imports,messages,webhooks"],
            },
        ),
    ],
    ids=["one-pool", "three-pools"],
)
def test_each_pool_is_a_deployment_consuming_its_queues(
    pools: list[dict[str, Any]], expected: dict[str, list[str] | None]
) -> None:
    out = render(default_values(worker={"pools": pools}))
    workers = out.workers()
    assert set(workers) == set(expected)
    for pool, selection in expected.items():
        args = containers(workers[pool])[0]["args"]
        threads = next(p.get("threads", 8) for p in pools if p["name"] == pool)
        assert args[:3] == ["worker", "--threads", str(threads)]
        assert args[3:] == (selection or [])
    # Each pool its own PodDisruptionBudget, selecting that pool's pods alone.
    budgets = {
        b["spec"]["selector"]["matchLabels"].get("levier/worker-pool")
        for b in out.of_kind("PodDisruptionBudget")
    }
    assert set(expected) <= budgets


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"worker": {"pools": [{"name": "a", "queues": ["imports"]}]}}, "no pool consumes"),
        (
            {"worker": {"pools": [{"name": "a"}, {"name": "a", "queues": ["rfm"]}]}},
            "taken twice",
        ),
        (
            {"worker": {"pools": [{"name": "a", "excludeQueues": sorted(known_queues())}]}},
            "consumes no queue",
        ),
        (
            {"secrets": {"existingSecret": ""}},
            "secrets.existingSecret",
        ),
        (
            {"migrations": {"existingSecret": ""}},
            "migrations.existingSecret",
        ),
        (
            {"worker": {"autoscaling": {"enabled": True, "keda": {"enabled": True}}}},
            "keda.redis.address",
        ),
        ({"config": {"publicUrl": ""}}, "config.publicUrl is required"),
    ],
    ids=[
        "queue-uncovered",
        "pool-twice",
        "empty-pool",
        "no-secret",
        "no-migration-secret",
        "keda-without-redis",
        "no-public-url",
    ],
)
def test_the_chart_refuses_values_it_cannot_deploy(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(default_values(**overrides))


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        ({"worker": {"pools": [{"name": "a", "queues": ["nope"]}]}}, "/worker/pools/0/queues/0"),
        (
            {"worker": {"pools": [{"name": "a", "queues": ["rfm"], "excludeQueues": ["rfm"]}]}},
            "/worker/pools/0",
        ),
        ({"worker": {"pools": [{"name": "Bulk_Work"}]}}, "/worker/pools/0/name"),
        ({"worker": {"pools": []}}, "/worker/pools"),
        ({"worker": {"threads": 0}}, "/worker/threads"),
        ({"api": {"replicaCount": "two"}}, "/api/replicaCount"),
        ({"metrics": {"port": 70000}}, "/metrics/port"),
        ({"config": {"env": "staging"}}, "/config/env"),
        ({"secrets": {"keyRefs": {"LEVIER_DATABASE_HOST": {"name": "pg"}}}}, "/secrets/keyRefs"),
        ({"keda": {"redis": {"address": "redis://r:6379"}}}, "/keda/redis/address"),
        ({"podDisruptionBudget": {"maxUnavailable": "half"}}, "/podDisruptionBudget"),
        ({"replicas": 3}, "replicas"),
    ],
    ids=[
        "unknown-queue",
        "queues-and-exclude",
        "bad-pool-name",
        "no-pool",
        "no-threads",
        "text-replicas",
        "port-range",
        "unknown-env",
        "key-ref-without-key",
        "keda-url",
        "bad-budget",
        "unknown-key",
    ],
)
def test_the_values_schema_rejects_bad_values(overrides: dict[str, Any], pointer: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape(pointer)):
        render(default_values(**overrides))


def test_the_schema_and_the_chart_know_the_queues_of_the_tasks() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    pool = schema["properties"]["worker"]["properties"]["pools"]["items"]
    assert set(pool["properties"]["queues"]["items"]["enum"]) == known_queues()
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    listed = re.search(r'define "levier.knownQueues".*?list ((?:"[a-z]+" ?)+)', helpers, re.S)
    assert listed is not None
    assert set(re.findall(r'"([a-z]+)"', listed.group(1))) == known_queues()


def test_keda_is_optional_and_replaces_the_hpa_of_the_pools_it_scales() -> None:
    plain = render(default_values(worker={"autoscaling": {"enabled": True}}))
    assert plain.of_kind("ScaledObject") == []
    assert {f"{RELEASE}-worker-bulk", f"{RELEASE}-worker-realtime"} <= set(
        plain.names("HorizontalPodAutoscaler")
    )

    out = rendered(CHART / "ci" / "operator-secrets-values.yaml")
    scaled = {s["metadata"]["name"]: s for s in out.of_kind("ScaledObject")}
    assert set(scaled) == {f"{RELEASE}-worker-bulk", f"{RELEASE}-worker-sends"}
    # The pool KEDA does not scale keeps its CPU HPA; no Deployment has two autoscalers.
    hpas = set(out.names("HorizontalPodAutoscaler"))
    assert f"{RELEASE}-worker-realtime" in hpas
    assert not hpas & set(scaled)
    bulk = scaled[f"{RELEASE}-worker-bulk"]["spec"]
    assert bulk["scaleTargetRef"]["name"] == f"{RELEASE}-worker-bulk"
    assert (bulk["minReplicaCount"], bulk["maxReplicaCount"]) == (1, 6)
    triggers = bulk["triggers"]
    assert triggers[0] == {
        "type": "cpu",
        "metricType": "Utilization",
        "metadata": {"value": "70"},
    }
    redis_lists = {t["metadata"]["listName"]: t for t in triggers if t["type"] == "redis"}
    # dramatiq's Redis broker pushes a job's id on <LEVIER_REDIS_NAMESPACE>:<queue>.
    assert set(redis_lists) == {f"levier:{queue}" for queue in BULK}
    for trigger in redis_lists.values():
        assert trigger["metadata"]["address"] == "levier-redis-master.redis:6379"
        assert trigger["metadata"]["listLength"] == "5"
        assert trigger["authenticationRef"] == {"name": "levier-redis-auth"}


@ci_files
def test_every_long_running_container_has_probes_on_a_port_it_declares(
    values_file: Path,
) -> None:
    for deployment in rendered(values_file).of_kind("Deployment"):
        for container in containers(deployment):
            ports = {p["name"] for p in container.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                assert probe in container, (deployment["metadata"]["name"], probe)
                assert container[probe]["httpGet"]["port"] in ports
            if container["name"] != "api":
                assert container["livenessProbe"]["httpGet"]["port"] == "health"
                assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
                (health_port,) = [p for p in container["ports"] if p["name"] == "health"]
                config = rendered(values_file).of_kind("ConfigMap")[0]["data"]
                assert config["LEVIER_HEALTH_PORT"] == str(health_port["containerPort"])
                assert config["LEVIER_HEALTH_HOST"] == "0.0.0.0"  # noqa: S104  (the kubelet's probes)


def test_the_metrics_port_is_scraped_through_a_service_the_ingress_never_reaches() -> None:
    out = rendered(CHART / "ci" / "operator-secrets-values.yaml")
    monitor = out.named("ServiceMonitor", RELEASE)
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    selected = monitor["spec"]["selector"]["matchLabels"]
    metrics_service = out.named("Service", f"{RELEASE}-metrics")
    assert selected.items() <= metrics_service["metadata"]["labels"].items()
    assert [p["name"] for p in metrics_service["spec"]["ports"]] == ["metrics"]
    assert metrics_service["spec"]["clusterIP"] == "None"
    # The Ingress routes to the API Service, which carries the API port alone.
    api_service = out.named("Service", f"{RELEASE}-api")
    assert [p["targetPort"] for p in api_service["spec"]["ports"]] == ["http"]
    backends = [
        path["backend"]["service"]
        for rule in out.named("Ingress", RELEASE)["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends == [{"name": f"{RELEASE}-api", "port": {"number": 8000}}]
    # Without the operator, no ServiceMonitor (its CRD may not exist).
    assert render(default_values()).of_kind("ServiceMonitor") == []


def test_the_network_policy_opens_the_api_and_metrics_ports_to_the_given_peers_only() -> None:
    out = rendered(CHART / "ci" / "operator-secrets-values.yaml")
    policy = out.named("NetworkPolicy", RELEASE)["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in policy["ingress"]}
    assert set(by_port) == {"http", "metrics"}
    assert by_port["metrics"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    assert {p["port"] for p in policy["egress"][0]["ports"]} == {53}
    assert render(default_values()).of_kind("NetworkPolicy") == []


def test_pods_spread_over_zones_and_nodes_by_default() -> None:
    for deployment in render(default_values()).of_kind("Deployment"):
        spread = pod_spec(deployment)["topologySpreadConstraints"]
        assert [c["topologyKey"] for c in spread] == [
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        ]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert all(c["labelSelector"]["matchLabels"] == selector for c in spread)


def _environment(
    container: dict[str, Any], out: Rendered, secrets: dict[str, str]
) -> dict[str, str]:
    """The variables the container starts with: its ConfigMap, then the keys it reads from
    Secrets (``secrets``: "<secret>/<key>" -> value), then literal values."""
    environ: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source and source["configMapRef"]["name"] == out.names("ConfigMap")[0]:
            environ |= out.of_kind("ConfigMap")[0]["data"]
    for variable in container.get("env", []):
        if "value" in variable:
            environ[variable["name"]] = variable["value"]
        elif "secretKeyRef" in variable.get("valueFrom", {}):
            ref = variable["valueFrom"]["secretKeyRef"]
            environ[variable["name"]] = secrets[f"{ref['name']}/{ref['key']}"]
    return environ


def test_operator_secrets_are_read_as_they_are_and_make_the_urls() -> None:
    """CloudNativePG's and Bitnami's Secret keys, mapped by secrets.keyRefs, give Levier its
    database and Redis URLs, with passwords holding URL-reserved characters."""
    secrets = {
        "levier-pg-app/host": "levier-pg-rw.databases.svc",
        "levier-pg-app/port": "5432",
        "levier-pg-app/dbname": "app",
        "levier-pg-app/username": "app",
        "levier-pg-app/password": "owner:p@ss/w#rd",
        "levier-pg-runtime/username": "levier_app",
        "levier-pg-runtime/password": "rt%p@ss?",
        "levier-redis/redis-password": "r3d!s@/",
        "levier-keys/secret-key": "k" * 40,
    }
    out = rendered(CHART / "ci" / "operator-secrets-values.yaml")
    worker = containers(out.workers()["sends"])[0]
    assert all("secretRef" not in source for source in worker["envFrom"])  # no Secret of its own
    runtime = load_settings(_environment(worker, out, secrets))
    assert runtime.is_production
    assert runtime.runtime_role == "levier_app"
    assert runtime.database_url == (
        "postgresql+asyncpg://levier_app:rt%25p%40ss%3F@levier-pg-rw.databases.svc:5432/app"
    )
    assert runtime.redis_url == "redis://:r3d%21s%40%2F@levier-redis-master.redis:6379/0"
    assert runtime.migration_database_url is None  # the long-running pods never see the owner
    job = out.of_kind("Job")[0]
    migrate = load_settings(_environment(containers(job)[0], out, secrets))
    assert migrate.migration_url == (
        "postgresql+asyncpg://app:owner%3Ap%40ss%2Fw%23rd@levier-pg-rw.databases.svc:5432/app"
    )
    assert migrate.database_url == runtime.database_url


def test_the_migration_job_needs_no_secret_of_its_own_when_keys_are_mapped() -> None:
    values = values_of(CHART / "ci" / "operator-secrets-values.yaml")
    values.pop("extraEnvFrom")
    out = render(values)
    (job,) = out.of_kind("Job")
    migrate = containers(job)[0]
    assert "envFrom" not in migrate
    assert {"LEVIER_MIGRATION_DATABASE_USER", "LEVIER_DATABASE_PASSWORD"} <= {
        variable["name"] for variable in migrate["env"]
    }
    kubernetes_validate.validate(job, KUBERNETES_VERSIONS[0], strict=True)


def test_extra_env_and_env_from_reach_every_container() -> None:
    out = rendered(CHART / "ci" / "operator-secrets-values.yaml")
    workloads = [*out.of_kind("Deployment"), *out.of_kind("Job")]
    assert len(workloads) == 6  # api, three pools, scheduler, migrate
    for workload in workloads:
        container = containers(workload)[0]
        names = [variable["name"] for variable in container["env"]]
        assert "NODE_NAME" in names, workload["metadata"]["name"]
        assert {"configMapRef": {"name": "levier-site-settings"}} in container["envFrom"]


def test_the_notes_name_each_worker_pool_and_its_queues() -> None:
    notes = render(default_values()).notes
    assert f"deployment/{RELEASE}-worker-bulk (queues imports, exports, rfm, segments)" in notes
    assert f"deployment/{RELEASE}-worker-realtime" in notes
    assert NAMESPACE in notes

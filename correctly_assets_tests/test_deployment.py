"""The deployment files agree with each other and with the code they start.

No Docker engine or cluster runs here, so what can run for real does: the installed CLIs' own
parsers read the containers' command lines, the production dagster.yaml becomes a
DagsterInstance on PostgreSQL, and dagster-k8s builds the Kubernetes Jobs the Helm values and
the training step's op tags produce.
"""

from __future__ import annotations

import importlib
import re
import shutil
import sys
from fnmatch import fnmatch
from importlib.metadata import entry_points, version
from pathlib import Path

import click
import pytest
import yaml

from correctly_assets.defs.gpu_launch import (
    A100_NODE_SELECTOR,
    DOCKER_GPU_CONTAINER_KWARGS,
    GPU_TOLERATIONS,
    TRAINING_K8S_CONFIG,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
HELM_VALUES = ROOT / "deploy" / "helm" / "values.yaml"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
INSTANCE = yaml.safe_load((ROOT / "docker" / "dagster.yaml").read_text())
WORKSPACE = yaml.safe_load((DOCKER / "workspace.docker.yaml").read_text())
VALUES = yaml.safe_load(HELM_VALUES.read_text())
USER_DEPLOYMENT = VALUES["dagster-user-deployments"]["deployments"][0]
DOCKERFILES = ["Dockerfile.user_code", "Dockerfile.dagster", "Dockerfile.mlflow"]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY", re.IGNORECASE)


# --- helpers ---------------------------------------------------------------------------------

# Compose interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}.
_INTERPOLATION = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\})")


def interpolate(text: str, env: dict[str, str]) -> str:
    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        value = env.get(name)
        if operator in (":-", ":?") and not value or operator in ("-", "?") and value is None:
            if operator.endswith("?"):
                raise KeyError(f"{name}: {argument}")
            return argument
        return value or ""

    return _INTERPOLATION.sub(substitute, text)


def strings(node):
    """Every string in a parsed YAML document, keys included."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def dockerfile(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DOCKER / name).read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def instructions(name: str, kind: str) -> list[str]:
    return [arguments for instruction, arguments in dockerfile(name) if instruction == kind]


def image_command(service: str) -> list[str]:
    """What the service's container runs: compose's `command`, else its image's CMD."""
    config = SERVICES[service]
    if "command" in config:
        return config["command"]
    (cmd,) = instructions(Path(config["build"]["dockerfile"]).name, "CMD")
    return yaml.safe_load(cmd)  # exec form is a JSON array


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or a parent of it decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        if any(fnmatch(prefix, pattern.lstrip("!")) for prefix in prefixes):
            ignored = not pattern.startswith("!")
    return ignored


def parse_cli(argv: list[str]) -> tuple[click.Command, dict]:
    """Parse a container's command line with the installed console script's own click parser,
    as the container would: an unknown command or option fails here. Each of these console
    scripts runs its module's click group `cli`."""
    script, *args = argv
    (module,) = {entry.module for entry in entry_points(group="console_scripts", name=script)}
    command = importlib.import_module(module).cli
    while isinstance(command, click.Group) and args and args[0] in command.commands:
        command, args = command.commands[args[0]], args[1:]
    return command, command.make_context(script, list(args)).params


def image_workdir(dockerfile_name: str, into: Path) -> Path:
    """The image's WORKDIR with what the Dockerfile copies into it, under `into`."""
    for arguments in instructions(dockerfile_name, "COPY"):
        *sources, destination = arguments.split()
        if not destination.startswith(("/", "$")):
            for source in sources:
                target = into / destination if len(sources) == 1 else into / destination / source
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / source, target)
    return into


# --- compose ---------------------------------------------------------------------------------


def test_compose_has_the_six_services_built_from_files_that_exist():
    assert set(SERVICES) == {"postgres", "mlflow", "user_code", "webserver", "daemon", "serving"}
    assert interpolate(SERVICES["postgres"]["image"], env={}).startswith("pgvector/pgvector:")
    assert (DOCKER / "initdb" / "01-databases.sql").is_file()
    for service, config in SERVICES.items():
        if "build" in config:
            context = (DOCKER / config["build"]["context"]).resolve()
            assert context == ROOT, service
            assert (context / config["build"]["dockerfile"]).is_file(), service
    # The daemon runs the webserver's image; runs use the code server's own image.
    assert SERVICES["daemon"]["image"] == SERVICES["webserver"]["image"]
    user_code = SERVICES["user_code"]
    assert user_code["environment"]["DAGSTER_CURRENT_IMAGE"] == user_code["image"]
    # The serving API runs the code server's image too, with the registry it serves from.
    assert SERVICES["serving"]["image"] == user_code["image"]
    serving = SERVICES["serving"]["environment"]
    assert serving["MLFLOW_TRACKING_URI"] == user_code["environment"]["MLFLOW_TRACKING_URI"]


def test_every_compose_variable_is_well_formed_and_listed_in_env_example():
    text = (DOCKER / "compose.yaml").read_text()
    assert "$" not in _INTERPOLATION.sub("", text), "a `$` compose cannot interpolate"
    used = {match.group(1) for match in _INTERPOLATION.finditer(text) if match.group(1)}
    example = (DOCKER / "env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert used <= listed, f"missing from env.example: {sorted(used - listed)}"


def test_no_credential_is_written_into_compose_dockerfiles_or_env_example():
    for text in strings(COMPOSE):
        for password in re.findall(r"://[^/\s:@]+:([^@\s]*)@", text):
            assert re.fullmatch(r"\$\{[A-Z_]+\}", password), text
    for config in SERVICES.values():
        for name, value in (config.get("environment") or {}).items():
            if SECRET_NAME.search(name):
                assert re.fullmatch(r"\$\{[A-Z_]+(:[-?][^}]*)?\}", value), name
    for name in DOCKERFILES:
        for arguments in instructions(name, "ENV") + instructions(name, "ARG"):
            assert not SECRET_NAME.search(arguments), arguments
    for line in (DOCKER / "env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if SECRET_NAME.search(name) and not line.startswith("#"):
            assert value == "", f"env.example must not carry a value for {name}"


def test_only_the_uis_and_the_api_are_published_and_on_loopback_by_default():
    published = {}
    for service, config in SERVICES.items():
        for entry in config.get("ports", []):
            host_ip, _, container_port = interpolate(entry, env={}).split(":")
            assert host_ip == "127.0.0.1", f"{service} publishes {entry} beyond this host"
            published[service] = int(container_port)
    assert published == {"webserver": 3000, "mlflow": 5000, "serving": 8080}


# --- images and commands ---------------------------------------------------------------------


def test_code_server_serves_the_definitions_where_the_workspace_looks():
    (grpc_server,) = [entry["grpc_server"] for entry in WORKSPACE["load_from"]]
    _, served = parse_cli(image_command("user_code"))
    assert grpc_server["host"] == "user_code"  # the compose service name is its host name
    assert served["port"] == grpc_server["port"]
    assert served["host"] == "0.0.0.0"
    # the location's name in the workspace, and the one the code reads from [tool.dg.project]
    assert served["location_name"] == grpc_server["location_name"] == "correctly"
    module = importlib.import_module(served["module_name"])
    assert module.defs.resolve_assets_def("fine_tuned_model")
    # The health check asks the same port.
    _, checked = parse_cli(SERVICES["user_code"]["healthcheck"]["test"][1:])
    assert checked["port"] == grpc_server["port"]


@pytest.mark.parametrize("service", ["webserver", "daemon"])
def test_webserver_and_daemon_read_the_workspace_the_image_carries(service, tmp_path, monkeypatch):
    # The workspace path is checked for existence while parsing, as in the container.
    monkeypatch.chdir(image_workdir("Dockerfile.dagster", tmp_path))
    _, parsed = parse_cli(image_command(service))
    (workspace,) = parsed["workspace"]
    assert yaml.safe_load(Path(workspace).read_text()) == WORKSPACE
    if service == "webserver":
        assert (parsed["host"], parsed["port"]) == ("0.0.0.0", 3000)


def test_mlflow_server_is_configured_by_its_own_environment_variables():
    server, parsed = parse_cli(image_command("mlflow"))
    assert (parsed["host"], parsed["port"]) == ("0.0.0.0", 5000)
    environment = SERVICES["mlflow"]["environment"]
    assert set(environment) <= {option.envvar for option in server.params}
    assert environment["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
    # Runs reach it under the tracking URI's host, which must pass its Host header check.
    tracking = SERVICES["user_code"]["environment"]["MLFLOW_TRACKING_URI"]
    host = re.match(r"http://([^/]+)", tracking).group(1)
    assert host in environment["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")


def test_images_pin_what_the_project_is_tested_with():
    python = f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
    constraints = {
        line.split("==")[0].lower() for line in (ROOT / "constraints.txt").read_text().splitlines()
    }
    for name in DOCKERFILES:
        # The base image is a build argument (a local stand-in where Docker Hub is out of
        # reach); by default it is the public image of the Python the project is tested with.
        assert instructions(name, "FROM") == ["${BASE_IMAGE}"], name
        assert f"BASE_IMAGE={python}" in instructions(name, "ARG"), name
        for arguments in instructions(name, "RUN"):
            for install in re.findall(r"pip install -c \S+ ([^&]+)", arguments):
                packages = [word for word in install.split() if word != "."]
                assert {p.lower() for p in packages} <= constraints, f"{name}: unpinned {packages}"
    torch_pin = re.search(r"torch==(\S+)", " ".join(instructions("Dockerfile.user_code", "RUN")))
    assert version("torch").split("+")[0] == torch_pin.group(1)
    # The Helm chart passes the command as container args: an ENTRYPOINT would swallow them.
    assert not instructions("Dockerfile.user_code", "ENTRYPOINT")


@pytest.mark.parametrize("name", DOCKERFILES)
@pytest.mark.parametrize("ignore_file", ["BuildKit's", "the classic builder's"])
def test_build_context_sends_what_the_image_copies_and_nothing_private(name, ignore_file):
    path = DOCKER / f"{name}.dockerignore" if ignore_file == "BuildKit's" else ROOT / ".dockerignore"
    patterns = [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for arguments in instructions(name, "COPY"):
        for source in arguments.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert not dockerignored(source, patterns), f"{name} copies {source}, which is ignored"
    for private in (".venv", ".dagster_home", "docker/.env", ".git"):
        assert dockerignored(private, patterns), private


# --- the production instance -----------------------------------------------------------------


def test_run_launcher_matches_the_compose_network_volume_and_environment():
    launcher = INSTANCE["run_launcher"]["config"]
    assert launcher["network"] == COMPOSE["networks"]["correctly"]["name"]
    (volume,) = launcher["container_kwargs"]["volumes"]
    name, mount = volume.split(":")
    assert name == COMPOSE["volumes"]["correctly-artifacts"]["name"]
    assert f"{name}:{mount}" in SERVICES["user_code"]["volumes"]
    image_env = " ".join(instructions("Dockerfile.user_code", "ENV")).split()
    assert f"CORRECTLY_ARTIFACTS_DIR={mount}" in image_env
    # The launcher copies these from the daemon's environment and fails on a missing one.
    assert set(launcher["env_vars"]) <= set(SERVICES["daemon"]["environment"])


def test_gpu_override_gives_run_containers_the_gpu_and_keeps_the_artifacts_volume():
    """compose.gpu.yaml sets the code server's container context; the DockerRunLauncher
    merges it over its own container_kwargs (dagster.yaml) for each run container."""
    import json

    from dagster_docker.container_context import DockerContainerContext
    from docker.types import HostConfig

    override = yaml.safe_load((DOCKER / "compose.gpu.yaml").read_text())["services"]
    # It changes the base services, and adds the engine's two (docs/serving.md).
    assert set(override) - set(SERVICES) == {"model-sync", "engine"}
    user_code = override["user_code"]
    assert user_code["build"]["args"]["TORCH_INDEX_URL"].startswith("https://download.pytorch.org/whl/cu")
    assert "ARG TORCH_INDEX_URL" in " ".join(" ".join(i) for i in dockerfile("Dockerfile.user_code"))

    launcher = INSTANCE["run_launcher"]["config"]
    run_context = DockerContainerContext(
        env_vars=launcher["env_vars"], networks=[launcher["network"]],
        container_kwargs=launcher["container_kwargs"],
    ).merge(DockerContainerContext.create_from_config(
        json.loads(user_code["environment"]["DAGSTER_CONTAINER_CONTEXT"])))
    kwargs = run_context.container_kwargs
    assert {k: kwargs[k] for k in DOCKER_GPU_CONTAINER_KWARGS} == DOCKER_GPU_CONTAINER_KWARGS
    assert kwargs["volumes"] == launcher["container_kwargs"]["volumes"]
    # What docker-py sends the engine for `docker run --gpus 1 --shm-size 16g`.
    host = HostConfig(version="1.44", device_requests=kwargs["device_requests"],
                      shm_size=kwargs["shm_size"])
    assert host["DeviceRequests"] == [{"Driver": "nvidia", "Count": 1, "DeviceIDs": [],
                                       "Capabilities": [["gpu"]], "Options": {}}]


# --- Kubernetes: the Dagster Helm chart's values ---------------------------------------------

# The keys of the dagster/dagster chart's values schema this file may use; `...`: any value.
_K8S_RUN_CONFIG = {"containerConfig": ..., "podSpecConfig": ..., "podTemplateSpecMetadata": ...,
                   "jobSpecConfig": ..., "jobMetadata": ...}
CHART_KEYS = {
    "global": {"postgresqlSecretName": ..., "dagsterHome": ..., "serviceAccountName": ...},
    "generatePostgresqlPasswordSecret": ...,
    "postgresql": {"enabled": ..., "postgresqlHost": ..., "postgresqlUsername": ...,
                   "postgresqlDatabase": ..., "postgresqlScheme": ..., "postgresqlParams": ...,
                   "service": {"port": ...}},
    "dagsterWebserver": {"replicaCount": ..., "image": ..., "service": ..., "env": ...,
                         "envSecrets": ..., "resources": ..., "nodeSelector": ...},
    "dagster-user-deployments": {
        "enabled": ..., "enableSubchart": ..., "imagePullSecrets": ...,
        "deployments": [{
            "name": ..., "image": {"repository": ..., "tag": ..., "pullPolicy": ...},
            "dagsterApiGrpcArgs": ..., "codeServerArgs": ..., "port": ...,
            "includeConfigInLaunchedRuns": {"enabled": ...}, "env": ..., "envConfigMaps": ...,
            "envSecrets": ..., "resources": ..., "podSecurityContext": ..., "securityContext": ...,
            "nodeSelector": ..., "tolerations": ..., "volumes": ..., "volumeMounts": ...,
            "labels": ..., "annotations": ...,
        }],
    },
    "runLauncher": {"type": ..., "config": {"k8sRunLauncher": {
        "image": ..., "imagePullPolicy": ..., "jobNamespace": ..., "loadInclusterConfig": ...,
        "kubeconfigFile": ..., "envConfigMaps": ..., "envSecrets": ..., "envVars": ...,
        "volumeMounts": ..., "volumes": ..., "labels": ..., "failPodOnRunFailure": ...,
        "resources": ..., "schedulerName": ..., "securityContext": ...,
        "runK8sConfig": _K8S_RUN_CONFIG,
    }}},
    "dagsterDaemon": {"enabled": ..., "image": ..., "runMonitoring": ..., "runRetries": ...,
                      "runCoordinator": {"enabled": ..., "type": ..., "config": {
                          "queuedRunCoordinator": {"maxConcurrentRuns": ...,
                                                   "tagConcurrencyLimits": ...}}}},
    "telemetry": {"enabled": ...},
}
RELEASE, NAMESPACE = "correctly", "correctly"
FULLNAME = f"{RELEASE}-dagster"  # the chart's fullname for a release not containing "dagster"


def unknown_keys(values, schema, path="") -> list[str]:
    """Paths in `values` that `schema` (CHART_KEYS' shape) does not know."""
    if schema is ...:
        return []
    if isinstance(schema, list):
        return [bad for item in values for bad in unknown_keys(item, schema[0], f"{path}[].")]
    unknown = []
    for key, value in values.items():
        if key not in schema:
            unknown.append(f"{path}{key}")
        else:
            unknown += unknown_keys(value, schema[key], f"{path}{key}.")
    return unknown


def chart_run_launcher_config(values) -> dict:
    """The K8sRunLauncher config the chart writes into the instance ConfigMap
    (templates/helpers/instance/_run-launcher.tpl) for release `correctly`."""
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    run_k8s_config = launcher.get("runK8sConfig", {})
    return {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": FULLNAME,
        "dagster_home": values["global"].get("dagsterHome", "/opt/dagster/dagster_home"),
        "instance_config_map": f"{FULLNAME}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "env_secrets": [secret["name"] for secret in launcher.get("envSecrets", [])],
        "volumes": launcher.get("volumes", []),
        "volume_mounts": launcher.get("volumeMounts", []),
        "run_k8s_config": {
            re.sub(r"([A-Z])", r"_\1", key).lower(): value for key, value in run_k8s_config.items()
        },
    }


def chart_code_location_context(deployment) -> dict:
    """The container context the chart gives the code server, which launched runs and steps
    inherit (dagster-user-deployments' k8sContainerContext helper)."""
    return {"k8s": {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [f"{FULLNAME}-{deployment['name']}-user-env"],
        "env_secrets": [secret["name"] for secret in deployment.get("envSecrets", [])],
        "resources": deployment.get("resources", {}),
        "namespace": NAMESPACE,
        "service_account_name": f"{FULLNAME}-user-deployments",
        "run_k8s_config": {"pod_spec_config": {"automount_service_account_token": True}},
    }}


def test_helm_values_use_the_chart_keys_and_carry_no_secret():
    assert unknown_keys(VALUES, CHART_KEYS) == []
    assert VALUES["generatePostgresqlPasswordSecret"] is False
    assert VALUES["postgresql"]["enabled"] is False
    assert VALUES["global"]["postgresqlSecretName"]
    assert VALUES["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    for name, value in USER_DEPLOYMENT.get("env", {}).items():
        assert not SECRET_NAME.search(name), f"{name} belongs in a secret"
    for text in strings(VALUES):
        assert not re.search(r"://[^/\s:@]+:[^@\s]+@", text), text
    assert {s["name"] for s in USER_DEPLOYMENT["envSecrets"]} == {"correctly-env"}
    documented = re.findall(r"--from-literal=(\w+)=", HELM_VALUES.read_text())
    assert {"OPENAI_API_KEY", "CORRECTLY_DATABASE_URL", "MLFLOW_TRACKING_URI"} <= set(documented)


def validate(cls, config: dict) -> dict:
    """`config` checked against a configurable class's real schema, defaults filled in, as an
    instance does when it loads that class from dagster.yaml."""
    from dagster._config import process_config, resolve_to_config_type

    result = process_config(resolve_to_config_type(cls.config_type()), config)
    assert result.success, [error.message for error in result.errors]
    return result.value


def test_helm_code_server_and_instance_config_are_valid_for_the_installed_dagster(monkeypatch):
    from dagster import QueuedRunCoordinator
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_postgres import PostgresRunStorage
    from dagster_postgres.utils import pg_url_from_config

    port = USER_DEPLOYMENT["port"]
    _, served = parse_cli(["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", str(port),
                           *USER_DEPLOYMENT["codeServerArgs"]])
    assert served["module_name"] == "correctly_assets.definitions"
    # the name pyproject.toml's [tool.dg.project] and the workspaces give the location
    assert served["location_name"] == "correctly"

    validate(K8sRunLauncher, chart_run_launcher_config(VALUES))
    K8sContainerContext.create_from_config(chart_code_location_context(USER_DEPLOYMENT))
    coordinator = VALUES["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    validate(QueuedRunCoordinator, {"max_concurrent_runs": coordinator["maxConcurrentRuns"]})

    # The storage block the chart writes (templates/helpers/instance/_postgresql.tpl).
    postgresql = VALUES["postgresql"]
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "from-the-secret")
    storage = validate(PostgresRunStorage, {"postgres_db": {
        "username": postgresql["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": postgresql["postgresqlHost"],
        "db_name": postgresql["postgresqlDatabase"],
        "port": postgresql["service"]["port"],
        "params": postgresql["postgresqlParams"],
        "scheme": postgresql["postgresqlScheme"],
    }})
    assert pg_url_from_config(storage).startswith("postgresql+psycopg2://")


def step_job(step_tags, tmp_path):
    """The Kubernetes Job k8s_job_executor creates for a step with these op tags, merged the
    way its K8sStepHandler does: run launcher, then code location, then the op's tags."""
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import construct_dagster_k8s_job, get_user_defined_k8s_config

    # Outside a cluster the launcher reads a kubeconfig instead; it contacts nothing here.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))
    config = {**chart_run_launcher_config(VALUES), "load_incluster_config": False,
              "kubeconfig_file": str(kubeconfig)}
    launcher = K8sRunLauncher(**validate(K8sRunLauncher, config))
    run = DagsterRun(job_name="__ASSET_JOB")
    code_location = chart_code_location_context(USER_DEPLOYMENT)
    context = (
        K8sContainerContext.create_for_run(run, launcher, include_run_tags=False)
        .merge(K8sContainerContext.create_from_config(code_location))
        .merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(step_tags)))
    )
    image = f"{USER_DEPLOYMENT['image']['repository']}:{USER_DEPLOYMENT['image']['tag']}"
    return construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(image, launcher),
        args=["dagster", "api", "execute_step"],
        job_name="step",
        user_defined_k8s_config=context.run_k8s_config,
        component="step_worker",
    )


def test_only_the_training_step_lands_on_the_gpu_pool(tmp_path):
    from correctly_assets.definitions import defs

    training = step_job(defs.resolve_assets_def("fine_tuned_model").op.tags, tmp_path)
    data = step_job(defs.resolve_assets_def("train_split").op.tags, tmp_path)

    pod = training.spec.template.spec
    (container,) = pod.containers
    assert pod.node_selector == A100_NODE_SELECTOR
    tolerations = [{"key": t.key, "operator": t.operator, "effect": t.effect}
                   for t in pod.tolerations]
    assert all(toleration in tolerations for toleration in GPU_TOLERATIONS)
    training_resources = TRAINING_K8S_CONFIG["container_config"]["resources"]
    assert container.resources.limits == training_resources["limits"]
    assert container.resources.requests["nvidia.com/gpu"] == "1"
    assert training.spec.backoff_limit == 0

    pod = data.spec.template.spec
    (container,) = pod.containers
    assert not pod.node_selector
    assert not any(t.key == "nvidia.com/gpu" for t in pod.tolerations or [])
    assert "nvidia.com/gpu" not in (container.resources.limits or {})

    # Both read the secrets, write to the shared artifacts volume, as the image's user.
    image = " ".join(arguments for _, arguments in dockerfile("Dockerfile.user_code"))
    uid = re.search(r"useradd .*--uid (\d+)", image)
    artifacts = re.search(r"CORRECTLY_ARTIFACTS_DIR=(\S+)", image)
    for job in (training, data):
        pod = job.spec.template.spec
        (container,) = pod.containers
        secrets = {source.secret_ref.name for source in container.env_from if source.secret_ref}
        assert "correctly-env" in secrets
        assert artifacts.group(1) in {mount.mount_path for mount in container.volume_mounts}
        assert pod.security_context.fs_group == int(uid.group(1))


def test_gpu_pool_documentation_matches_the_training_tags():
    text = HELM_VALUES.read_text()
    labels = dict(re.findall(r"kubectl label node \S+ (\S+)=(\S+)", text))
    assert labels == A100_NODE_SELECTOR
    taints = re.findall(r"kubectl taint node \S+ ([^=:\s]+)(?:=\S*)?:(\w+)", text)
    for toleration in GPU_TOLERATIONS:
        # `Exists` tolerates the taint whatever its value.
        assert toleration["operator"] == "Exists"
        assert (toleration["key"], toleration["effect"]) in taints


def test_kubernetes_runs_each_step_as_its_own_job(monkeypatch):
    """CORRECTLY_EXECUTOR=k8s (the Helm values set it) picks dagster-k8s's step executor,
    so only the training step goes to the GPU pool; elsewhere steps share the run's process."""
    import dagster as dg
    from dagster_k8s import k8s_job_executor

    from correctly_assets.definitions import build_executor

    assert USER_DEPLOYMENT["env"]["CORRECTLY_EXECUTOR"] == "k8s"
    monkeypatch.setenv("CORRECTLY_EXECUTOR", "k8s")
    assert build_executor() is k8s_job_executor
    monkeypatch.delenv("CORRECTLY_EXECUTOR")
    assert build_executor() is dg.in_process_executor


# --- the serving API -------------------------------------------------------------------------


def _serving_arguments(command: list[str]):
    from correctly_assets.serving.__main__ import build_parser

    python, flag, module, *args = command
    assert (python, flag, module) == ("python", "-m", "correctly_assets.serving")
    return build_parser().parse_args(args)


def test_compose_serving_listens_where_it_is_published_and_waits_for_a_model():
    arguments = _serving_arguments(SERVICES["serving"]["command"])
    (published,) = SERVICES["serving"]["ports"]
    assert (arguments.host, arguments.port) == ("0.0.0.0", int(published.rsplit(":", 1)[1]))
    assert arguments.wait_for_model > 0


def test_kubernetes_serving_runs_the_user_code_image_with_the_runs_secret():
    from kubernetes.client import ApiClient

    documents = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / "serving.yaml").read_text()))
    # Read into the Kubernetes client's own models, as kubectl would send them.
    deployment, service, engine, engine_service = (
        ApiClient()._ApiClient__deserialize(d, f"V1{d['kind']}") for d in documents)
    (container,) = deployment.spec.template.spec.containers
    image = USER_DEPLOYMENT["image"]
    assert container.image == f"{image['repository']}:{image['tag']}"
    arguments = _serving_arguments(container.command)
    assert arguments.port == container.ports[0].container_port
    assert arguments.wait_for_model > 0
    assert ({source.secret_ref.name for source in container.env_from}
            == {secret["name"] for secret in USER_DEPLOYMENT["envSecrets"]})
    assert "MLFLOW_TRACKING_URI" in re.findall(r"--from-literal=(\w+)=", HELM_VALUES.read_text())
    assert service.spec.selector == deployment.spec.selector.match_labels
    assert service.spec.type == "ClusterIP"
    # The engine's model-sync runs the same image with the same secret; vLLM gets the GPU.
    (sync,) = engine.spec.template.spec.init_containers
    assert sync.image == container.image and sync.env_from == container.env_from
    (vllm,) = engine.spec.template.spec.containers
    assert vllm.resources.limits["nvidia.com/gpu"] in (1, "1")
    assert engine_service.spec.selector == engine.spec.selector.match_labels


def test_the_engine_deployments_agree_with_the_gateway():
    """compose.gpu.yaml and deploy/k8s/serving.yaml run the same vLLM image beside the
    gateway, the gateway's engine URL names the engine's service and port, and the engine
    serves the name the sync step writes (the name the gateway asks for)."""
    compose = yaml.safe_load((ROOT / "docker/compose.gpu.yaml").read_text())["services"]
    manifests = list(yaml.safe_load_all((ROOT / "deploy/k8s/serving.yaml").read_text()))
    deployments = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}
    services = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Service"}
    engine_pod = deployments["correctly-engine"]["spec"]["template"]["spec"]
    [vllm] = engine_pod["containers"]
    assert compose["engine"]["image"] == "${ENGINE_IMAGE:-" + vllm["image"] + "}"

    gateway_env = {e["name"]: e["value"] for e in
                   deployments["correctly-serving"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert gateway_env["CORRECTLY_SERVING_BACKEND"] == compose["serving"]["environment"][
        "CORRECTLY_SERVING_BACKEND"] == "engine"
    port = services["correctly-engine"]["spec"]["ports"][0]["port"]
    assert gateway_env["CORRECTLY_ENGINE_URL"] == f"http://correctly-engine:{port}/v1"
    assert compose["serving"]["environment"]["CORRECTLY_ENGINE_URL"] == "http://engine:8000/v1"
    for command in (compose["engine"]["command"][0].replace("$$", "$"), vllm["args"][0]):
        assert '--served-model-name "$(cat /models/current)"' in command
        assert "--port 8000" in command and 'vllm serve "/models/$(cat /models/current)"' in command
    [sync] = engine_pod["initContainers"]
    assert sync["command"][:3] == ["python", "-m", "correctly_assets.serving.sync"]
    assert compose["model-sync"]["command"][:3] == sync["command"][:3]
